# frozen_string_literal: true

require "pathname"

module Nhttps
  # A pool of kept-alive connections (Node's https.Agent), usable from any
  # number of threads.
  #
  #   agent = Nhttps::Agent.new(max_sockets: 2)
  #   Nhttps.get(url, agent: agent) { |res| res.read }
  #   agent.destroy
  class Agent
    # Options as Node's, in snake_case; free_socket_timeout is in seconds
    # (Float allowed), as Net::HTTP's keep_alive_timeout.
    def initialize(max_sockets: nil, max_total_sockets: nil, max_free_sockets: nil,
                   keep_alive: nil, free_socket_timeout: nil, scheduling: nil)
      n = Native
      opts = n.nhttps_agent_options_new
      out = FFI::MemoryPointer.new(:pointer)
      begin
        n.check!(n.nhttps_agent_options_set_max_sockets(opts, Integer(max_sockets))) if max_sockets
        n.check!(n.nhttps_agent_options_set_max_total_sockets(opts, Integer(max_total_sockets))) if max_total_sockets
        n.check!(n.nhttps_agent_options_set_max_free_sockets(opts, Integer(max_free_sockets))) if max_free_sockets
        n.check!(n.nhttps_agent_options_set_keep_alive(opts, keep_alive ? true : false)) unless keep_alive.nil?
        if free_socket_timeout
          ms = n.milliseconds(free_socket_timeout, "free_socket_timeout")
          n.check!(n.nhttps_agent_options_set_free_socket_timeout_ms(opts, ms))
        end
        n.check!(n.nhttps_agent_options_set_scheduling(opts, n.cstr(scheduling, "scheduling"))) if scheduling
        n.check!(n.nhttps_agent_new(opts, out))
      ensure
        n.nhttps_agent_options_free(opts)
      end
      @state = [out.read_pointer, false]
      @global = false
      ObjectSpace.define_finalizer(self, self.class.finalizer(@state))
    end

    def self.finalizer(state) # :nodoc:
      proc do
        unless state[1]
          state[1] = true
          Native.nhttps_agent_free(state[0])
        end
      end
    end

    # Node's https.globalAgent (never destroyed).
    def self.global
      @global ||= allocate.tap do |a|
        a.instance_variable_set(:@state, [Native.nhttps_global_agent, false])
        a.instance_variable_set(:@global, true)
      end
    end

    # Node's agent.sockets / freeSockets / requests, for "host:port" or over
    # every host: {in_use:, free:, queued:}.
    def stats(name = nil)
      counts = Array.new(3) { FFI::MemoryPointer.new(:size_t) }
      Native.check!(Native.nhttps_agent_stats(to_native, name && Native.cstr(name, "name"), *counts))
      %i[in_use free queued].zip(counts.map { |c| c.read(:size_t) }).to_h
    end

    # Node's agent.destroy(): closes idle connections, releases the agent.
    def destroy
      return if @global || @state[1]

      @state[1] = true
      Native.nhttps_agent_free(@state[0])
      nil
    end

    def destroyed?
      @state[1]
    end

    def to_native # :nodoc:
      raise Error.for(Result::ERR_INVALID_STATE, "the agent was destroyed") if @state[1]

      @state[0]
    end
  end

  # A response received by the client (IncomingMessage plus the status).
  # Reading the body to its end, #close, or the garbage collector gives its
  # connection back to the agent. Read the body (or close the response):
  # an agent has 5 connections per host, and unread responses keep theirs.
  class ClientResponse < IncomingMessage
    # Node's statusCode.
    attr_reader :status
    alias status_code status
    # Node's statusMessage.
    attr_reader :status_message

    def self.finalizer(handle) # :nodoc:
      proc { handle.consume { |p| Native.nhttps_incoming_message_free(p) } if handle.alive? }
    end

    def initialize(ptr) # :nodoc:
      handle = Handle.new(ptr, Handle.new_state, "client response")
      super(handle)
      @socket = handle.use { |p| SocketInfo.from_pointer(Native.nhttps_incoming_message_socket(p)) }
      ObjectSpace.define_finalizer(self, self.class.finalizer(handle))
    end

    # The connection's facts, copied when the response arrived.
    attr_reader :socket

    # Frees the native response: its connection goes back to the agent if
    # the body was read to the end, and is closed otherwise. Idempotent.
    def close
      @handle.consume { |p| Native.nhttps_incoming_message_free(p) } if @handle.alive?
      nil
    rescue Error
      nil # closed by another thread meanwhile
    end

    def closed?
      !@handle.alive?
    end

    # The body to its end ("" after the end or after #close).
    def read(length = nil)
      return(length ? nil : +"".b) if closed?

      super
    end

    def each_chunk(&block)
      return enum_for(:each_chunk) unless block
      return self if closed?

      super
    end
    alias each each_chunk

    private

    def body_ended
      close
    end
  end

  # Node's https.request / https.get.
  module Client
    module_function

    # See Nhttps.request.
    def request(target = nil, method: nil, headers: nil, body: nil, host: nil, hostname: nil,
                port: nil, path: nil, socket_path: nil, auth: nil, ca: nil, ca_file: nil,
                cert: nil, key: nil, cert_file: nil, key_file: nil, passphrase: nil,
                reject_unauthorized: nil, servername: nil, min_version: nil, agent: nil,
                timeout: nil, connect_timeout: nil)
      n = Native
      if target.is_a?(Hash)
        opts = target.transform_keys(&:to_sym)
        return request(nil, **opts.merge(method: method, headers: headers, body: body, host: host,
                                          hostname: hostname, port: port, path: path,
                                          socket_path: socket_path, auth: auth, ca: ca,
                                          ca_file: ca_file, cert: cert, key: key,
                                          cert_file: cert_file, key_file: key_file,
                                          passphrase: passphrase,
                                          reject_unauthorized: reject_unauthorized,
                                          servername: servername, min_version: min_version,
                                          agent: agent, timeout: timeout,
                                          connect_timeout: connect_timeout) { |_k, a, b| b.nil? ? a : b })
      end

      header_pairs = normalize_headers(headers)
      chunks = body_chunks(body)
      if body.is_a?(String) && header_pairs.none? { |k, _| %w[content-length transfer-encoding].include?(k.downcase) }
        header_pairs << ["Content-Length", body.bytesize.to_s]
      end

      opts = build_options(target)
      request = nil
      begin
        { host: :nhttps_request_options_set_host, hostname: :nhttps_request_options_set_hostname,
          socket_path: :nhttps_request_options_set_socket_path, method: :nhttps_request_options_set_method,
          path: :nhttps_request_options_set_path, auth: :nhttps_request_options_set_auth,
          passphrase: :nhttps_request_options_set_passphrase, servername: :nhttps_request_options_set_servername,
          min_version: :nhttps_request_options_set_min_version }.each do |name, fn|
          value = binding.local_variable_get(name)
          n.check!(n.public_send(fn, opts, n.cstr(value, name.to_s))) unless value.nil?
        end
        n.check!(n.nhttps_request_options_set_port(opts, Integer(port))) if port
        header_pairs.each do |k, v|
          n.check!(n.nhttps_request_options_add_header(opts, n.cstr(k, "header name"), n.cstr(v, "header value")))
        end
        Array(ca).each { |c| pem(opts, c, :nhttps_request_options_add_ca_pem, :nhttps_request_options_add_ca_file) }
        Array(ca_file).each { |f| n.check!(n.nhttps_request_options_add_ca_file(opts, n.cstr(f, "ca path"))) }
        pem(opts, cert, :nhttps_request_options_set_cert_pem, :nhttps_request_options_set_cert_file) if cert
        pem(opts, key, :nhttps_request_options_set_key_pem, :nhttps_request_options_set_key_file) if key
        n.check!(n.nhttps_request_options_set_cert_file(opts, n.cstr(cert_file, "cert path"))) if cert_file
        n.check!(n.nhttps_request_options_set_key_file(opts, n.cstr(key_file, "key path"))) if key_file
        unless reject_unauthorized.nil?
          n.check!(n.nhttps_request_options_set_reject_unauthorized(opts, reject_unauthorized ? true : false))
        end
        case agent
        when nil, true then nil
        when false then n.check!(n.nhttps_request_options_set_no_agent(opts))
        when Agent then n.check!(n.nhttps_request_options_set_agent(opts, agent.to_native))
        else raise ArgumentError, "agent: must be an Nhttps::Agent, false or nil"
        end
        n.check!(n.nhttps_request_options_set_timeout_ms(opts, n.milliseconds(timeout, "timeout", 1))) if timeout
        if connect_timeout
          ms = n.milliseconds(connect_timeout, "connect_timeout", 1)
          n.check!(n.nhttps_request_options_set_connect_timeout_ms(opts, ms))
        end

        out = FFI::MemoryPointer.new(:pointer)
        n.check!(n.nhttps_client_request_new(opts, out))
        request = out.read_pointer
      ensure
        n.nhttps_request_options_free(opts)
      end

      begin
        chunks.each do |chunk|
          n.with_bytes(chunk) { |b, l| n.check!(n.nhttps_client_request_write(request, b, l)) if l.positive? }
        end
      rescue Exception # rubocop:disable Lint/RescueException -- the request must not leak
        n.nhttps_client_request_free(request)
        raise
      end

      out = FFI::MemoryPointer.new(:pointer)
      n.check!(n.nhttps_client_request_end(request, out)) # consumes the request
      ClientResponse.new(out.read_pointer)
    end

    def build_options(target)
      n = Native
      if target.nil?
        n.nhttps_request_options_new
      else
        out = FFI::MemoryPointer.new(:pointer)
        n.check!(n.nhttps_request_options_from_url(n.cstr(target.to_s, "url"), out))
        out.read_pointer
      end
    end

    def normalize_headers(headers)
      (headers || {}).to_a.flat_map do |name, value|
        Array(value).map { |v| [name.to_s, v.to_s] }
      end
    end

    # The body as chunks to write: a String, an IO (read in 16 KiB pieces),
    # or anything with #each yielding Strings.
    def body_chunks(body)
      case body
      when nil then []
      when String then [body]
      else
        if body.respond_to?(:read)
          Enumerator.new do |y|
            while (chunk = body.read(16 * 1024))
              y << chunk
            end
          end
        elsif body.respond_to?(:each)
          body
        else
          raise ArgumentError, "body: must be a String, an IO or an Enumerable of Strings"
        end
      end
    end

    def pem(opts, value, pem_fn, file_fn)
      n = Native
      if value.is_a?(Pathname)
        n.check!(n.public_send(file_fn, opts, n.cstr(value.to_s, "path")))
      else
        value = value.read if value.respond_to?(:read)
        n.with_bytes(value) { |b, l| n.check!(n.public_send(pem_fn, opts, b, l)) }
      end
    end
  end
end
