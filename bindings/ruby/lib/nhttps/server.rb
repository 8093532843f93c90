# frozen_string_literal: true

require "monitor"
require "pathname"

module Nhttps
  # An HTTPS server (Node's https.Server).
  #
  #   server = Nhttps.create_server(dev_certificate: true) { |req, res| res.end("hi\n") }
  #   server.listen(0, "127.0.0.1")
  #   puts "https://127.0.0.1:#{server.port}/"
  #   ...
  #   server.close
  #
  # Threads: nhttps runs each connection on a native thread of its own; the
  # ffi gem runs each callback on a Ruby thread of its own, so handlers of
  # different connections run concurrently (under the GVL) and must be
  # thread-safe. A handler that raises is logged (Nhttps.exception_handler)
  # and its response becomes a `500` if it was not ended; the server keeps
  # serving.
  class Server
    EVENTS = %i[request check_continue connection client_error tls_client_error
                secure_connection keylog close listening].freeze

    # The servers listening now: they stay referenced (as in Node, a
    # listening server lives on without a variable), and are closed at exit.
    @open = {}
    @open_lock = Mutex.new
    @exit_hook_armed = false

    class << self
      # Registers `server` as open and makes sure an at_exit hook will close
      # it. The hook is armed again when a server opens after it ran (as in
      # minitest, whose tests run inside an at_exit hook themselves).
      def opened(server) # :nodoc:
        @open_lock.synchronize do
          @open[server.object_id] = server
          unless @exit_hook_armed
            @exit_hook_armed = true
            at_exit { close_all_at_exit }
          end
        end
      end

      def closed(server) # :nodoc:
        @open_lock.synchronize { @open.delete(server.object_id) }
      end

      # Closes every open server (at exit: a native thread must never call
      # into Ruby while the interpreter shuts down).
      def close_all
        servers = @open_lock.synchronize { @open.values }
        servers.each do |s|
          s.close
        rescue StandardError => e
          Nhttps.report_exception(e, "closing a server")
        end
      end

      def close_all_at_exit # :nodoc:
        @open_lock.synchronize { @exit_hook_armed = false }
        close_all
      end

      # Builds native server options from Node-style keywords, yields them,
      # and frees them.
      def with_native_options(dev_certificate: false, key: nil, cert: nil, ca: nil, pfx: nil,
                              passphrase: nil, key_file: nil, cert_file: nil, ca_file: nil,
                              pfx_file: nil, ocsp_response: nil, ocsp_response_file: nil,
                              request_cert: nil, reject_unauthorized: nil,
                              min_version: nil, max_version: nil, ciphers: nil, ciphersuites: nil,
                              ecdh_curve: nil, honor_cipher_order: nil, alpn_protocols: nil,
                              session_timeout: nil, max_connections: nil, keep_alive_timeout: nil,
                              max_header_size: nil, thread_stack_size: nil, headers_timeout: nil,
                              request_timeout: nil, handshake_timeout: nil,
                              max_requests_per_socket: nil, max_connections_per_ip: nil,
                              session_id_context: nil, session_cache_size: nil, tickets: nil,
                              ticket_keys: nil, reuse_port: nil, proxy_protocol: nil)
        n = Native
        opts = n.nhttps_server_options_new
        raise NoMemoryError, "nhttps_server_options_new" if opts.null?

        begin
          pem_or_file(opts, key, :key)
          pem_or_file(opts, cert, :cert)
          Array(ca).each { |c| pem_or_file(opts, c, :ca) }
          pem_or_file(opts, Pathname(key_file), :key) if key_file
          pem_or_file(opts, Pathname(cert_file), :cert) if cert_file
          Array(ca_file).each { |f| pem_or_file(opts, Pathname(f), :ca) }
          if pfx_file || pfx.is_a?(Pathname)
            n.check!(n.nhttps_server_options_set_pfx_file(opts, n.cstr(pfx_file || pfx, "pfx path")))
          elsif pfx
            n.with_bytes(pfx) { |b, l| n.check!(n.nhttps_server_options_set_pfx(opts, b, l)) }
          end
          # A DER OCSP response, binary like pfx: a String is the response, a Pathname a file.
          if ocsp_response_file || ocsp_response.is_a?(Pathname)
            path = n.cstr(ocsp_response_file || ocsp_response, "OCSP response path")
            n.check!(n.nhttps_server_options_set_ocsp_response_file(opts, path))
          elsif ocsp_response
            n.with_bytes(ocsp_response) do |b, l|
              n.check!(n.nhttps_server_options_set_ocsp_response(opts, b, l))
            end
          end
          n.check!(n.nhttps_server_options_set_passphrase(opts, n.cstr(passphrase, "passphrase"))) if passphrase
          n.check!(n.nhttps_server_options_use_dev_certificate(opts)) if dev_certificate
          n.check!(n.nhttps_server_options_set_request_cert(opts, request_cert ? true : false)) unless request_cert.nil?
          unless reject_unauthorized.nil?
            n.check!(n.nhttps_server_options_set_reject_unauthorized(opts, reject_unauthorized ? true : false))
          end
          { min_version: :nhttps_server_options_set_min_version,
            max_version: :nhttps_server_options_set_max_version,
            ciphers: :nhttps_server_options_set_ciphers,
            ciphersuites: :nhttps_server_options_set_ciphersuites,
            ecdh_curve: :nhttps_server_options_set_ecdh_curve }.each do |name, fn|
            value = binding.local_variable_get(name)
            n.check!(n.public_send(fn, opts, n.cstr(value, name.to_s))) unless value.nil?
          end
          { keep_alive_timeout: :nhttps_server_options_set_keep_alive_timeout_ms,
            headers_timeout: :nhttps_server_options_set_headers_timeout_ms,
            request_timeout: :nhttps_server_options_set_request_timeout_ms,
            handshake_timeout: :nhttps_server_options_set_handshake_timeout_ms }.each do |name, fn|
            value = binding.local_variable_get(name)
            n.check!(n.public_send(fn, opts, n.milliseconds(value, name.to_s, 1))) unless value.nil?
          end
          { session_timeout: :nhttps_server_options_set_session_timeout,
            max_connections: :nhttps_server_options_set_max_connections,
            max_requests_per_socket: :nhttps_server_options_set_max_requests_per_socket,
            max_connections_per_ip: :nhttps_server_options_set_max_connections_per_ip,
            max_header_size: :nhttps_server_options_set_max_header_size,
            thread_stack_size: :nhttps_server_options_set_thread_stack_size,
            session_cache_size: :nhttps_server_options_set_session_cache_size }.each do |name, fn|
            value = binding.local_variable_get(name)
            n.check!(n.public_send(fn, opts, Integer(value))) unless value.nil?
          end
          { tickets: :nhttps_server_options_set_tickets,
            reuse_port: :nhttps_server_options_set_reuse_port,
            proxy_protocol: :nhttps_server_options_set_proxy_protocol }.each do |name, fn|
            value = binding.local_variable_get(name)
            n.check!(n.public_send(fn, opts, value ? true : false)) unless value.nil?
          end
          # Binary, like pfx: Strings of bytes.
          { session_id_context: :nhttps_server_options_set_session_id_context,
            ticket_keys: :nhttps_server_options_set_ticket_keys }.each do |name, fn|
            value = binding.local_variable_get(name)
            n.with_bytes(value) { |b, l| n.check!(n.public_send(fn, opts, b, l)) } unless value.nil?
          end
          n.check!(n.nhttps_server_options_set_honor_cipher_order(opts, honor_cipher_order ? true : false)) unless honor_cipher_order.nil?
          if alpn_protocols
            names = Array(alpn_protocols).map { |p| FFI::MemoryPointer.from_string(n.cstr(p, "ALPN protocol")) }
            list = FFI::MemoryPointer.new(:pointer, [names.size, 1].max)
            list.write_array_of_pointer(names) unless names.empty?
            n.check!(n.nhttps_server_options_set_alpn_protocols(opts, list, names.size))
          end
          yield opts
        ensure
          n.nhttps_server_options_free(opts)
        end
      end

      private

      # A PEM given as contents (String), or as a file (Pathname, or an IO to read).
      def pem_or_file(opts, value, kind)
        return if value.nil?

        n = Native
        value = value.read if value.respond_to?(:read)
        if value.is_a?(Pathname)
          fn = { key: :nhttps_server_options_set_key_file, cert: :nhttps_server_options_set_cert_file,
                 ca: :nhttps_server_options_add_ca_file }.fetch(kind)
          n.check!(n.public_send(fn, opts, n.cstr(value.to_s, "#{kind} path")))
        else
          fn = { key: :nhttps_server_options_set_key_pem, cert: :nhttps_server_options_set_cert_pem,
                 ca: :nhttps_server_options_add_ca_pem }.fetch(kind)
          n.with_bytes(value) { |b, l| n.check!(n.public_send(fn, opts, b, l)) }
        end
      end
    end

    # The native server and whether it was freed; shared with the finalizer
    # (which must not hold the Server itself).
    State = Struct.new(:ptr, :freed) # :nodoc:

    def self.finalizer(state) # :nodoc:
      proc do
        unless state.freed
          state.freed = true
          Native.nhttps_server_free(state.ptr)
        end
      end
    end

    # Options as Nhttps.create_server. A block is a :request listener.
    def initialize(**options, &handler)
      out = FFI::MemoryPointer.new(:pointer)
      self.class.with_native_options(**options) do |opts|
        Native.check!(Native.nhttps_server_new(opts, out))
      end
      @state = State.new(out.read_pointer, false)
      ObjectSpace.define_finalizer(self, self.class.finalizer(@state))
      @listeners = Hash.new { |h, k| h[k] = [] }
      @functions = {} # the FFI::Function of each event: referenced while nhttps may call it
      @lock = Mutex.new
      @close_lock = Monitor.new # reentrant: a :close listener may ask for #port
      @listening = false
      @closing = false
      @takers = 0 # threads taking requests (#take_request, #each_request)
      @takers_done = ConditionVariable.new
      on(:request, &handler) if handler
    end

    # Adds a listener for an event, by Node's name in snake_case:
    #   :request, :check_continue  |req, res|
    #   :connection                |socket_info|  (return false to close it)
    #   :client_error, :tls_client_error  |error, socket_info|  (the error is of
    #     its result's class, e.g. Nhttps::HTTPParseError, with #http_status)
    #   :secure_connection         |socket_info|
    #   :keylog                    |line|
    #   :close, :listening         ||
    def on(event, callable = nil, &block)
      event = event.to_sym
      raise ArgumentError, "unknown event #{event.inspect} (one of #{EVENTS.join(', ')})" unless EVENTS.include?(event)

      listener = callable || block
      raise ArgumentError, "a listener is needed" unless listener

      @lock.synchronize do
        @listeners[event] << listener
        register(event) unless @functions.key?(event)
      end
      self
    end
    alias add_listener on

    # Removes a listener added with #on.
    def off(event, listener)
      @lock.synchronize { @listeners[event.to_sym].delete(listener) }
      self
    end
    alias remove_listener off

    # Node's server.listen(port, host): port 0 lets the system pick one (see
    # #port); host nil means every address. Returns self once listening.
    def listen(port = 0, host = nil)
      ptr = live_ptr
      Native.check!(Native.nhttps_server_listen(ptr, host && Native.cstr(host, "host"), Integer(port)))
      @listening = true
      Server.opened(self)
      self
    end

    # Node's server.listen(path): a unix-domain socket (TLS runs over it).
    def listen_unix(path)
      ptr = live_ptr
      Native.check!(Native.nhttps_server_listen_unix(ptr, Native.cstr(path, "path")))
      @listening = true
      Server.opened(self)
      self
    end

    # Not in Node as such (Node's listen({fd})): listens on `fd`, a
    # listening socket the program already has — systemd's socket
    # activation (3), or one handed over by a previous process. The server
    # owns the descriptor from then on (pass a dup of an IO's fileno, or
    # the IO's #fileno after #autoclose = false).
    def listen_fd(fd)
      ptr = live_ptr
      Native.check!(Native.nhttps_server_listen_fd(ptr, Integer(fd)))
      @listening = true
      Server.opened(self)
      self
    end

    # The server's counters (nhttps_server_stats) in a Hash: :accepted,
    # :open, :idle, :handshake_failures, :requests, :bytes_in, :bytes_out,
    # :client_errors.
    def stats
      stats = Native::Stats.new
      stats[:size] = Native::Stats.size
      @close_lock.synchronize { Native.check!(Native.nhttps_server_stats(live_ptr, stats.pointer)) }
      Native::Stats::COUNTERS.to_h { |name| [name, stats[name]] }
    end

    # Requests go to a queue that Ruby threads take from with #take_request,
    # instead of to :request listeners: nhttps's threads then never call
    # into Ruby for a request (the ffi gem runs such a call on a dispatcher
    # thread of its own: two thread switches a request). :check_continue is
    # not queued (without a listener, 100 Continue goes out by itself).
    def queue_requests
      Native.check!(Native.nhttps_server_queue_requests(live_ptr))
      self
    end

    # The next queued request as [req, res], waiting up to `timeout`
    # seconds (nil: until one comes); nil when none came in time; raises
    # Nhttps::InvalidStateError once the server has closed and none is
    # left. The response is the caller's to end. Keep taking while #close
    # runs: it waits for the queued requests to be answered.
    def take_request(timeout = nil)
      ms = timeout.nil? ? -1 : [Native.milliseconds(timeout, "timeout"), 0x7FFF_FFFF].min
      req_out, res_out = Thread.current[:nhttps_take_out] ||=
                           [FFI::MemoryPointer.new(:pointer), FFI::MemoryPointer.new(:pointer)]
      ptr = enter_taking
      begin
        # On a busy server the next request is there: taken without
        # giving the GVL up.
        rc = Native.nhttps_server_poll_request(ptr, 0, req_out, res_out)
        rc = Native.nhttps_server_take_request(ptr, ms, req_out, res_out) if rc == Result::ERR_TIMEOUT && ms != 0
      ensure
        leave_taking
      end
      return nil if rc == Result::ERR_TIMEOUT

      Native.check!(rc)
      taken(req_out, res_out)
    end

    # Takes requests until the server has closed and none is left, yielding
    # each [req, res] as #take_request returns them; then returns self. For
    # a thread that only takes requests: it registers as a taker once, not
    # once a request, and waits in slices of `wait` seconds (the thread
    # stays interruptible). `head: false` (for Nhttps::Rack) leaves the
    # request's head uncopied: the request is read through #cgi_variables.
    def each_request(wait: 1, head: true)
      ms = [Native.milliseconds(wait, "wait"), 0x7FFF_FFFF].min
      req_out = FFI::MemoryPointer.new(:pointer)
      res_out = FFI::MemoryPointer.new(:pointer)
      ptr = enter_taking
      begin
        loop do
          # On a busy server the next request is there: taken without
          # giving the GVL up.
          rc = Native.nhttps_server_poll_request(ptr, 0, req_out, res_out)
          rc = Native.nhttps_server_take_request(ptr, ms, req_out, res_out) if rc == Result::ERR_TIMEOUT
          next if rc == Result::ERR_TIMEOUT
          return self if rc == Result::ERR_INVALID_STATE # closed, and none is left

          Native.check!(rc)
          yield taken(req_out, res_out, head: head)
        end
      ensure
        leave_taking
      end
    end

    # The TCP port listened on (0 before #listen and after #close).
    def port
      @close_lock.synchronize { @state.freed ? 0 : Native.nhttps_server_port(@state.ptr) }
    end

    # The certificate the server presents, PEM (e.g. the development one, for
    # a client to trust).
    def certificate_pem
      @close_lock.synchronize { @state.freed ? nil : Native.text(Native.nhttps_server_certificate_pem(@state.ptr)) }
    end

    def listening?
      @listening && !@closing
    end

    def closed?
      @state.freed
    end

    # Node's server.close(): stops accepting, lets requests in flight finish,
    # closes idle connections, emits :close, then frees the native server.
    # From outside a handler it returns once every connection has ended.
    # From inside a handler (whose connection could not end while it waits)
    # the close runs on a new Ruby thread, which is returned.
    def close
      if Thread.current[:nhttps_callback]
        @closing = true
        return Thread.new { close_now }
      end
      close_now
      self
    end

    def inspect
      "#<#{self.class} port=#{port}#{' closed' if closed?}>"
    end

    private

    def live_ptr
      raise Error.for(Result::ERR_INVALID_STATE, "the server is closed") if @state.freed

      @state.ptr
    end

    # The native server, for a thread about to call nhttps_server_take_request:
    # #close does not free it until the thread has left (#leave_taking).
    def enter_taking
      @lock.synchronize do
        raise Error.for(Result::ERR_INVALID_STATE, "the server has closed") if @state.freed || @freeing

        @takers += 1
        @state.ptr
      end
    end

    def leave_taking
      @lock.synchronize do
        @takers -= 1
        @takers_done.broadcast
      end
    end

    # A taken request and its response, from take_request's out-pointers.
    def taken(req_out, res_out, head: true)
      state = Handle.new_state
      [IncomingMessage.new(Handle.new(req_out.read_pointer, state, "request"), head: head),
       ServerResponse.new(Handle.new(res_out.read_pointer, state, "response"), taken: true)]
    end

    def close_now
      @close_lock.synchronize do
        return if @state.freed

        @closing = true
        Native.nhttps_server_close(@state.ptr) # waits for every connection; free would close too
        # Threads in #take_request have heard the server closed: let them
        # leave the native call before the server is freed.
        @lock.synchronize do
          @freeing = true
          @takers_done.wait(@lock) while @takers.positive?
        end
        @state.freed = true
        Native.nhttps_server_free(@state.ptr) # after it no callback runs again
        @lock.synchronize { @functions.clear }
      end
    ensure
      Server.closed(self)
    end

    def listeners(event)
      @lock.synchronize { @listeners[event].dup }
    end

    # Creates the FFI::Function for an event and hands it to nhttps. Each
    # body runs through Nhttps.callback_guard, since the ffi gem swallows an
    # exception raised in a callback.
    def register(event)
      n = Native
      ptr = live_ptr
      fn, setter =
        case event
        when :request, :check_continue
          [FFI::Function.new(:void, %i[pointer pointer pointer]) { |_u, req, res| dispatch_request(event, req, res) },
           event == :request ? :nhttps_server_on_request : :nhttps_server_on_check_continue]
        when :connection
          [FFI::Function.new(:bool, %i[pointer pointer]) do |_u, info|
            Nhttps.callback_guard("connection listener", false) do
              si = SocketInfo.from_pointer(info)
              listeners(:connection).all? { |l| l.call(si) != false }
            end
          end, :nhttps_server_on_connection]
        when :client_error, :tls_client_error
          [FFI::Function.new(:void, %i[pointer pointer pointer]) do |_u, err, info|
            Nhttps.callback_guard("#{event} listener") do
              e = Error.for(n.nhttps_error_code(err), n.text(n.nhttps_error_message(err)),
                            http_status: n.nhttps_error_http_status(err)).extend(ClientError)
              si = SocketInfo.from_pointer(info)
              listeners(event).each { |l| l.call(e, si) }
            end
          end, event == :client_error ? :nhttps_server_on_client_error : :nhttps_server_on_tls_client_error]
        when :secure_connection
          [FFI::Function.new(:void, %i[pointer pointer]) do |_u, info|
            Nhttps.callback_guard("secure_connection listener") do
              si = SocketInfo.from_pointer(info)
              listeners(:secure_connection).each { |l| l.call(si) }
            end
          end, :nhttps_server_on_secure_connection]
        when :keylog
          [FFI::Function.new(:void, %i[pointer string]) do |_u, line|
            Nhttps.callback_guard("keylog listener") { listeners(:keylog).each { |l| l.call(n.text(line)) } }
          end, :nhttps_server_on_keylog]
        when :close, :listening
          [FFI::Function.new(:void, %i[pointer]) do |_u|
            Nhttps.callback_guard("#{event} listener") { listeners(event).each(&:call) }
          end, event == :close ? :nhttps_server_on_close : :nhttps_server_on_listening]
        end
      @functions[event] = fn
      n.check!(n.public_send(setter, ptr, fn, nil))
    end

    def dispatch_request(event, req_ptr, res_ptr)
      res = nil
      Nhttps.callback_guard("#{event} handler", nil, -> { res ? res.fail_safely : end_raw(res_ptr) }) do
        state = Handle.new_state
        res = ServerResponse.new(Handle.new(res_ptr, state, "response"))
        req = IncomingMessage.new(Handle.new(req_ptr, state, "request"))
        ls = listeners(event)
        raise Error.for(Result::ERR_INVALID_STATE, "no #{event} listener") if ls.empty?

        ls.each { |l| l.call(req, res) }
      end
    end

    # Last resort when not even the Ruby objects could be made.
    def end_raw(res_ptr)
      Native.nhttps_server_response_set_status(res_ptr, 500)
      Native.nhttps_server_response_end(res_ptr, nil, 0)
    end
  end
end
