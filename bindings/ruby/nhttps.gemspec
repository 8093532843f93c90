# frozen_string_literal: true

require_relative "lib/nhttps/version"

Gem::Specification.new do |spec|
  spec.name = "nhttps"
  spec.version = Nhttps::VERSION
  spec.summary = "Node's https module (server and client) for Ruby, over libnhttps"
  spec.description = <<~DESC
    Ruby binding of nhttps, Node's https module rebuilt in Rust and shipped as a
    C library: an HTTPS server with Node's behaviour (keep-alive, chunked bodies,
    100-continue, client certificates) and an HTTPS client with agents, through
    the ffi gem. Needs libnhttps.so (NHTTPS_LIBRARY, the gem's lib/nhttps/, a
    checkout's build/lib, or the system loader).
  DESC
  spec.license = "MIT"
  spec.authors = ["nhttps developers"]
  spec.required_ruby_version = ">= 2.7"
  # build_gem.sh puts the compiled library and Nhttps::Speedups (the Rack
  # env in C, ext/nhttps_speedups) in lib/nhttps/.
  bundled = Dir.glob("lib/nhttps/{libnhttps.so,libnhttps.so.*,libnhttps.dylib,speedups.so}", base: __dir__)
  spec.files = Dir.glob("lib/**/*.rb", base: __dir__) + bundled + %w[README.md nhttps.gemspec]
  # A gem that carries the compiled library (build_gem.sh) runs only where
  # it was built: it says so in its platform.
  spec.platform = Gem::Platform.local unless bundled.empty?
  spec.require_paths = ["lib"]
  spec.add_dependency "ffi", ">= 1.15", "< 2"
  spec.add_development_dependency "minitest", "~> 5"
  spec.metadata["rubygems_mfa_required"] = "true"
end
