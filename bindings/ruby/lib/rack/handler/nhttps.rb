# frozen_string_literal: true

require "pathname"
require "nhttps/rack"

module Rack
  module Handler
    # `rackup -s nhttps config.ru` (Rack 2's handler registry): serves the
    # application over HTTPS with nhttps. Options: Host, Port,
    # SSLCertificate and SSLPrivateKey (files; without them a development
    # certificate made in memory), SSLCACertificateFile, SSLVerifyClient
    # ("require" or "optional"); for a fleet (docs/deploy.md), ReusePort
    # and ProxyProtocol ("true"), and systemd's socket activation: when
    # LISTEN_PID is this process and LISTEN_FDS at least 1, it serves on
    # fd 3 instead of Host and Port. Its threads run under Linux's
    # SCHED_BATCH (see Nhttps::Rack::Scheduling).
    module Nhttps
      def self.run(app, **options)
        # Paths (a String given to nhttps is PEM data).
        tls = if options[:SSLCertificate]
                { cert: Pathname(options[:SSLCertificate]), key: Pathname(options[:SSLPrivateKey].to_s) }
              else
                { dev_certificate: true }
              end
        tls[:ca] = Pathname(options[:SSLCACertificateFile]) if options[:SSLCACertificateFile]
        if options[:SSLVerifyClient]
          tls[:request_cert] = true
          tls[:reject_unauthorized] = options[:SSLVerifyClient].to_s == "require"
        end
        fleet = { reuse_port: flag(options[:ReusePort]), proxy_protocol: flag(options[:ProxyProtocol]),
                  fd: activated_socket }.compact
        ::Nhttps::Rack::Scheduling.batch # before any thread starts: they inherit it
        server = ::Nhttps::Rack.serve(app, host: options[:Host] || "127.0.0.1",
                                           port: Integer(options[:Port] || 9292), **tls, **fleet)
        $stdout.puts "listening on #{server.url}"
        $stdout.flush
        yield server if block_given?
        stop = Queue.new
        %w[INT TERM].each { |signal| trap(signal) { stop << signal } }
        stop.pop
        server.close
      end

      # "true", "1" or "yes" (rackup's -O gives Strings); nil when not given.
      def self.flag(value)
        value.nil? ? nil : %w[true 1 yes].include?(value.to_s.downcase)
      end

      # fd 3 when systemd activated this process's socket (LISTEN_PID is
      # this process, LISTEN_FDS at least 1), else nil. The variables are
      # removed so that children do not take them for theirs.
      def self.activated_socket
        return nil unless ENV["LISTEN_PID"].to_i == Process.pid && ENV["LISTEN_FDS"].to_i >= 1

        %w[LISTEN_PID LISTEN_FDS LISTEN_FDNAMES].each { |name| ENV.delete(name) }
        3
      end
    end

    register :nhttps, Nhttps
  end
end
