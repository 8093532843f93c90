# frozen_string_literal: true

module Nhttps
  # Raised when a native nhttps call fails.
  #
  #   begin
  #     Nhttps.get("https://127.0.0.1:1/")
  #   rescue Nhttps::Error => e
  #     e.result   # => "NHTTPS_ERR_CONNECTION_REFUSED"
  #     e.code     # => 17
  #     e.detail   # => the library's message (nhttps_last_error_message)
  #     e.message  # => "NHTTPS_ERR_CONNECTION_REFUSED: <detail>"
  #   end
  class Error < StandardError
    # The numeric nhttps_result.
    attr_reader :code
    # The result's name, e.g. "NHTTPS_ERR_TLS_HANDSHAKE".
    attr_reader :result
    # The library's message for this failure ("" if it gave none).
    attr_reader :detail

    def initialize(code, detail = nil, result: nil)
      @code = code
      @result = result || Native.result_name(code)
      @detail = detail.to_s
      super(@detail.empty? ? @result : "#{@result}: #{@detail}")
    end

    alias result_name result
  end
end
