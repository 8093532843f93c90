# frozen_string_literal: true

module Nhttps
  # A response being sent by a server (Node's ServerResponse). Every
  # response must be ended exactly once with #end — from any thread, also
  # after the handler returned (the connection waits for it). Calls on one
  # response (and its request's #read) are serialized.
  class ServerResponse
    def initialize(handle, taken: false) # :nodoc:
      @handle = handle
      @taken = taken # from Server#take_request: a small #end does not wait
    end

    # Node's statusCode= (default 200).
    def status=(code)
      @handle.use { |p| Native.check!(Native.nhttps_server_response_set_status(p, Integer(code))) }
    end
    alias status_code= status=

    # Node's statusMessage= (default: the standard phrase).
    def status_message=(message)
      @handle.use do |p|
        Native.check!(Native.nhttps_server_response_set_status_message(p, Native.cstr(message, "status message")))
      end
    end

    # Node's setHeader: replaces earlier values; an Array sets several.
    def set_header(name, value)
      name = Native.cstr(name, "header name")
      values = Array(value).map { |v| Native.cstr(v, "header value") }
      @handle.use do |p|
        if values.empty?
          Native.check!(Native.nhttps_server_response_remove_header(p, name))
        else
          Native.check!(Native.nhttps_server_response_set_header(p, name, values.first))
          values.drop(1).each { |v| Native.check!(Native.nhttps_server_response_append_header(p, name, v)) }
        end
      end
      self
    end
    alias []= set_header

    # The status and the headers of a Rack response in one call (a value
    # with "\n" is several; for Nhttps::Rack).
    def rack_head(status, headers) # :nodoc:
      status = Integer(status)
      raw = self.class.raw_headers(headers)
      @handle.use do |p|
        Native.check!(Native.nhttps_server_response_set_head(p, status, nil, raw, raw.bytesize))
      end
    end

    # Rack headers as nhttps's raw block: name, NUL, value, NUL, ... :nodoc:
    def self.raw_headers(headers)
      raw = Speedups.header_block(headers) if SPEEDUPS
      return raw if raw

      raw = String.new # binary: takes any encoding's bytes (no capacity: keywords cost a Hash)
      fields = 0
      headers.each do |name, value|
        name = name.to_s
        value = value.to_s
        if value.include?("\n")
          value.split("\n").each do |one|
            add_field(raw, name, one)
            fields += 2
          end
        else
          add_field(raw, name, value)
          fields += 2
        end
      end
      raise ArgumentError, "nhttps: a header name or value contains a NUL byte" if raw.count("\0") != fields

      raw
    end

    def self.add_field(raw, name, value) # :nodoc:
      if name.ascii_only? && value.ascii_only?
        raw << name << "\0" << value << "\0" # stays binary
      else
        raw << name.b << "\0" << value.b << "\0"
      end
    end

    # Node's appendHeader: adds values, keeping earlier ones.
    def append_header(name, value)
      name = Native.cstr(name, "header name")
      values = Array(value).map { |v| Native.cstr(v, "header value") }
      @handle.use do |p|
        values.each { |v| Native.check!(Native.nhttps_server_response_append_header(p, name, v)) }
      end
      self
    end

    # Node's getHeader: the first value set for `name` (any case), or nil.
    def get_header(name)
      name = Native.cstr(name, "header name")
      @handle.use { |p| Native.text(Native.nhttps_server_response_get_header(p, name)) }
    end
    alias [] get_header

    # Node's removeHeader.
    def remove_header(name)
      name = Native.cstr(name, "header name")
      @handle.use { |p| Native.check!(Native.nhttps_server_response_remove_header(p, name)) }
      self
    end

    # Node's headersSent.
    def headers_sent?
      @handle.use { |p| Native.nhttps_server_response_headers_sent(p) }
    end

    # Node's writeHead: `write_head(200)`, `write_head(200, {"content-type" => "text/plain"})`
    # or `write_head(404, "Nope", {...})`. Header values may be Arrays.
    # Sends the head now.
    def write_head(status, message = nil, headers = nil)
      if message.is_a?(Hash) || (message.is_a?(Array) && headers.nil?)
        headers = message
        message = nil
      end
      message = Native.cstr(message, "status message") unless message.nil?
      pairs = (headers || {}).to_a.map do |name, value|
        [Native.cstr(name, "header name"), Array(value).map { |v| Native.cstr(v, "header value") }]
      end
      @handle.use do |p|
        pairs.each do |name, values|
          Native.check!(Native.nhttps_server_response_set_header(p, name, values.first || ""))
          values.drop(1).each { |v| Native.check!(Native.nhttps_server_response_append_header(p, name, v)) }
        end
        Native.check!(Native.nhttps_server_response_write_head(p, Integer(status), message))
      end
      self
    end

    # Node's writeContinue: sends `100 Continue` (in a check_continue handler).
    def write_continue
      @handle.use { |p| Native.check!(Native.nhttps_server_response_write_continue(p)) }
      self
    end

    # Node's write: sends body bytes (the head first if not sent yet).
    # Without a content-length header the body is chunked.
    def write(data)
      Native.with_bytes(data) do |buf, len|
        @handle.use { |p| Native.check!(Native.nhttps_server_response_write(p, buf, len)) }
      end
      true
    end
    alias << write

    # Node's end: sends the last bytes and finishes the response. The
    # response and its request are unusable afterwards.
    def end(data = nil)
      if @taken && (data.nil? || data.bytesize <= Native::FRAMED_END_MAX)
        data = data.to_s
        code = @handle.consume { |p| Native.nhttps_server_response_end_framed(p, data, data.bytesize) }
        Native.check!(code)
        return nil
      end
      Native.with_bytes(data) do |buf, len|
        code = @handle.consume { |p| Native.nhttps_server_response_end(p, buf, len) }
        Native.check!(code)
      end
      nil
    end
    alias finish end

    # Node's destroy: abandons the response — nothing more of it is sent —
    # and closes the connection, so the client sees it cut short (or sees
    # none). A no-op once ended.
    def destroy
      return nil unless @handle.alive?

      code = @handle.consume { |p| Native.nhttps_server_response_destroy(p) }
      Native.check!(code)
      nil
    end

    # Whether #end was called.
    def ended?
      !@handle.alive?
    end
    alias finished? ended?

    # Ends a response whose handler failed: `500` when nothing was sent
    # yet, else just the end of what was sent. Never raises.
    def fail_safely # :nodoc:
      @handle.consume do |p|
        unless Native.nhttps_server_response_headers_sent(p)
          %w[content-length content-type transfer-encoding content-encoding etag last-modified
             location set-cookie cache-control].each { |h| Native.nhttps_server_response_remove_header(p, h) }
          Native.nhttps_server_response_set_header(p, "Content-Type", "text/plain; charset=utf-8")
          Native.nhttps_server_response_set_status(p, 500)
          Native.nhttps_server_response_set_status_message(p, "Internal Server Error")
          body = "Internal Server Error\n"
          Native.with_bytes(body) { |buf, len| Native.nhttps_server_response_end(p, buf, len) }
        else
          Native.nhttps_server_response_end(p, nil, 0)
        end
      end
      true
    rescue Error
      false # already ended
    end
  end
end
