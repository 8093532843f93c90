# frozen_string_literal: true

require "pathname"
require "nhttps/rack"

module Rack
  module Handler
    # `rackup -s nhttps config.ru` (Rack 2's handler registry): serves the
    # application over HTTPS with nhttps. Options: Host, Port,
    # SSLCertificate and SSLPrivateKey (files; without them a development
    # certificate made in memory), SSLCACertificateFile, SSLVerifyClient
    # ("require" or "optional"). Its threads run under Linux's SCHED_BATCH
    # (see Nhttps::Rack::Scheduling).
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
        ::Nhttps::Rack::Scheduling.batch # before any thread starts: they inherit it
        server = ::Nhttps::Rack.serve(app, host: options[:Host] || "127.0.0.1",
                                           port: Integer(options[:Port] || 9292), **tls)
        $stdout.puts "listening on #{server.url}"
        $stdout.flush
        yield server if block_given?
        stop = Queue.new
        %w[INT TERM].each { |signal| trap(signal) { stop << signal } }
        stop.pop
        server.close
      end
    end

    register :nhttps, Nhttps
  end
end
