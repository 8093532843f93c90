# frozen_string_literal: true

module Nhttps
  # A native pointer whose life nhttps (or the binding) may end: every use
  # goes through #use, which serializes the calls (nhttps's objects are for
  # one thread at a time) and raises Nhttps::InvalidStateError once
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
      Error.for(Result::ERR_INVALID_STATE, "#{@what} used after its life ended")
    end
  end
end
