# frozen_string_literal: true

module Nhttps
  # Nhttps::Speedups (ext/nhttps_speedups/speedups.c), the Rack handler's
  # env and response header block made in C, is loaded when it was built
  # (build_gem.sh bundles it; bindings/ruby/run_tests.sh builds it in a
  # checkout) and NHTTPS_PURE_RUBY is not set; otherwise
  # IncomingMessage#rack_env and ServerResponse.raw_headers make the same
  # in Ruby. SPEEDUPS says which.
  SPEEDUPS = !ENV["NHTTPS_PURE_RUBY"] && begin
    require_relative "speedups.so"
    Speedups.bind(Native.ffi_libraries.first.find_function("nhttps_incoming_message_cgi_variables").address,
                  Native)
    true
  rescue LoadError
    false
  end
end
