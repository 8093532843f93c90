# frozen_string_literal: true

require "rack"
require "stringio"
require "nhttps"

module Nhttps
  # A Rack application served over HTTPS by nhttps:
  #
  #   server = Nhttps::Rack.serve(app, host: "127.0.0.1", port: 9292,
  #                               cert: Pathname("cert.pem"), key: Pathname("key.pem"))
  #   server.close
  #
  # or `rackup -s nhttps` (Rack::Handler::Nhttps). nhttps's threads do TLS
  # and HTTP; `threads` Ruby threads (8) take the requests from nhttps's
  # queue and run the application, and a response's last bytes are sent by
  # nhttps's threads while the Ruby thread takes its next request. The env has
  # the Rack SPEC's keys, rack.input (Rack 2 wants it rewindable: the body
  # is read from the connection when the application first reads it, into
  # a temporary file, as Rack::RewindableInput does — memory stays flat),
  # the TLS facts under mod_ssl's names: HTTPS ("on"), SSL_PROTOCOL,
  # SSL_CIPHER, SSL_TLS_SNI, SSL_CLIENT_VERIFY ("SUCCESS", "FAILED:reason",
  # "NONE"), and with a client certificate SSL_CLIENT_S_DN, SSL_CLIENT_I_DN,
  # SSL_CLIENT_M_SERIAL and SSL_CLIENT_CERT (PEM). A body that responds to
  # to_path is sent from that file. An exception before the head is
  # answered 500 (its backtrace on rack.errors); after it, the response is
  # cut short and the connection closed.
  module Rack
    # The request body as the stream Rack::RewindableInput wraps.
    class BodyStream
      def initialize(req)
        @req = req
        @buffer = +"".b
      end

      def read(length = nil, outbuf = nil)
        data = if length.nil?
                 rest = @buffer + @req.read
                 @buffer = +"".b
                 rest
               else
                 fill(length)
                 return (length.zero? ? +"".b : nil) if @buffer.empty?

                 @buffer.slice!(0, length)
               end
        outbuf ? outbuf.replace(data) : data
      end

      def gets
        until (newline = @buffer.index("\n"))
          chunk = @req.read(IncomingMessage::READ_SIZE)
          break unless chunk

          @buffer << chunk
        end
        return nil if @buffer.empty?

        @buffer.slice!(0, newline ? newline + 1 : @buffer.bytesize)
      end

      def each
        while (line = gets)
          yield line
        end
      end

      def rewind
        raise Errno::ESPIPE, "the request body streams: wrap it in Rack::RewindableInput"
      end

      def close; end

      private

      def fill(length)
        while @buffer.bytesize < length
          chunk = @req.read(IncomingMessage::READ_SIZE)
          break unless chunk

          @buffer << chunk
        end
      end
    end

    # rack.input of a request without a body (neither Content-Length nor
    # Transfer-Encoding): empty, shared, nothing to close.
    module NullInput
      def self.read(length = nil, outbuf = nil)
        outbuf&.clear
        return nil if length&.positive?

        outbuf || +"".b
      end

      def self.gets = nil
      def self.each = nil
      def self.rewind = 0
      def self.size = 0
      def self.close = nil
    end

    # An application served by an nhttps server.
    class Server
      attr_reader :server, :host

      # `threads` Ruby threads take the requests from nhttps's queue and
      # run the application (nhttps's own threads do TLS and HTTP and never
      # call into Ruby for a request).
      # `fd:` listens on a socket the program already has instead of
      # `host`:`port` (systemd's socket activation: 3). `options` are
      # Nhttps.create_server's (TLS, timeouts, reuse_port:, proxy_protocol:,
      # ticket_keys:, ...).
      def initialize(app, host: "127.0.0.1", port: 9292, errors: $stderr, threads: 8, fd: nil, **options)
        @app = app
        @host = host
        @errors = errors
        @server = Nhttps.create_server(**options)
        @server.queue_requests
        # 100 Continue only when the application first reads the body.
        @server.on(:check_continue) { |req, res| handle(req, res) }
        fd ? @server.listen_fd(fd) : @server.listen(port, host)
        # What every request's env starts from.
        @base_env = {
          "SCRIPT_NAME" => "", "rack.version" => ::Rack::VERSION, "rack.url_scheme" => "https",
          "rack.errors" => @errors, "rack.multithread" => true, "rack.multiprocess" => false,
          "rack.run_once" => false
        }.freeze
        @takers = Array.new(Integer(threads)) { Thread.new { take_requests } }
      end

      def port
        @server.port
      end

      def url
        name = host.include?(":") ? "[#{host}]" : host
        "https://#{name}:#{port}/"
      end

      def close
        @server.close # waits for the requests in flight: the takers answer them
        @takers.each(&:join)
      end

      def env_for(req)
        env = req.rack_env(@base_env)
        env["rack.input"] = if env.key?("CONTENT_LENGTH") || env.key?("HTTP_TRANSFER_ENCODING")
                              ::Rack::RewindableInput.new(BodyStream.new(req))
                            else
                              NullInput
                            end
        env
      end

      private

      def take_requests
        @server.each_request(head: false) { |req, res| handle(req, res) }
      rescue InvalidStateError
        nil # the server closed before this thread began
      end

      def handle(req, res)
        body = input = nil
        head_sent = false
        begin
          # Inside: a request whose env cannot be made is answered 500, not
          # left unanswered by a taker that died.
          env = env_for(req)
          input = env["rack.input"] # the application may replace it (Rack::Lint does)
          status, headers, body = @app.call(env)
          res.rack_head(status, headers)
          if body.respond_to?(:to_path)
            head_sent = true
            File.open(body.to_path, "rb") { |f| res.write(f.read(64 * 1024)) until f.eof? }
            res.end
          elsif body.is_a?(Array)
            head_sent = true
            res.end(body.size == 1 ? body.first.to_s : body.join) # with its length
          else
            body.each do |chunk|
              head_sent = true
              res.write(chunk) unless chunk.empty?
            end
            res.end
          end
        rescue Exception => e # rubocop:disable Lint/RescueException - every failure is the app's
          @errors.puts("#{e.class}: #{e.message}\n#{e.backtrace&.join("\n")}")
          fail_response(res, head_sent)
        ensure
          body.close if body.respond_to?(:close)
          input&.close
        end
      end

      def fail_response(res, head_sent)
        return if res.ended?

        if head_sent
          res.destroy
        else
          res.fail_safely
        end
      end
    end

    # Linux's SCHED_BATCH for the calling thread and the threads it starts
    # afterwards (they inherit it): a thread woken does not preempt the one
    # running, so nhttps's threads and the Ruby threads that run the
    # application take turns in batches rather than a switch per request
    # (throughput first; a request can wait up to a scheduler tick
    # longer). For a program that serves (`rackup -s nhttps` does it);
    # elsewhere nothing changes.
    module Scheduling
      extend FFI::Library
      ffi_lib FFI::Library::LIBC
      SCHED_BATCH = 3
      begin
        attach_function :sched_setscheduler, %i[int int pointer], :int
      rescue FFI::NotFoundError
        nil
      end

      def self.batch
        return unless RUBY_PLATFORM.include?("linux") && respond_to?(:sched_setscheduler)

        sched_setscheduler(0, SCHED_BATCH, FFI::MemoryPointer.new(:int)) # priority 0
      end
    end

    # Serves `app`; returns the server (see Server) at once.
    def self.serve(app, **options)
      Server.new(app, **options)
    end
  end
end
