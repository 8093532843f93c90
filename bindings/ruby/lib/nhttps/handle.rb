# frozen_string_literal: true

module Nhttps
  # Result codes (nhttps_result).
  module Result
    OK = 0
    ERR_NULL_ARGUMENT = 1
    ERR_INVALID_ARGUMENT = 2
    ERR_INVALID_STATE = 3
    ERR_IO = 4
    ERR_ADDRESS_IN_USE = 5
    ERR_KEY = 6
    ERR_CERTIFICATE = 7
    ERR_PASSPHRASE = 8
    ERR_TLS = 9
    ERR_TLS_HANDSHAKE = 10
    ERR_HTTP_PARSE = 11
    ERR_CONNECTION_CLOSED = 12
    ERR_TIMEOUT = 13
    ERR_UNSUPPORTED = 14
    ERR_PANIC = 15
    ERR_DNS = 16
    ERR_CONNECTION_REFUSED = 17
    ERR_CERTIFICATE_VERIFY = 18
  end

  # A native pointer whose life nhttps (or the binding) may end: every use
  # goes through #use, which serializes the calls (nhttps's objects are for
  # one thread at a time) and raises Nhttps::Error (ERR_INVALID_STATE) once
  # the pointer is gone, instead of touching freed memory.
  #
  # A server request and its response share one State: ending the response
  # ends the life of both.
  class Handle # :nodoc:
    State = Struct.new(:alive, :mutex)

    def self.new_state
      State.new(true, Mutex.new)
    end

    def initialize(ptr, state, what)
      @ptr = ptr
      @state = state
      @what = what
    end

    def alive?
      @state.alive
    end

    # Yields the pointer while it is alive, holding the lock.
    def use
      @state.mutex.synchronize do
        raise dead_error unless @state.alive

        yield @ptr
      end
    end

    # Yields the pointer one last time and marks it (and every handle that
    # shares its state) dead, whatever the block does.
    def consume
      @state.mutex.synchronize do
        raise dead_error unless @state.alive

        @state.alive = false
        yield @ptr
      end
    end

    # Marks the handle dead without a call; true if it was alive.
    def retire
      @state.mutex.synchronize do
        was = @state.alive
        @state.alive = false
        was
      end
    end

    private

    def dead_error
      Error.new(Result::ERR_INVALID_STATE, "#{@what} used after its life ended",
                result: "NHTTPS_ERR_INVALID_STATE")
    end
  end
end
