# frozen_string_literal: true

require_relative "helper"
require "open3"
require "rbconfig"

# A native thread that calls into Ruby while the interpreter shuts down
# would hang or crash the process: servers still open at exit are closed by
# an at_exit hook, which lets the requests in flight finish first.
class TestExit < Minitest::Test
  LIB = File.expand_path("../lib", __dir__)

  # Runs `script` in a new interpreter; a process still alive after
  # `limit` seconds is killed (a hung exit ignores SIGTERM) and fails.
  def run_script(script, limit: 20)
    Open3.popen3(RbConfig.ruby, "-I", LIB, "-e", script) do |stdin, stdout, stderr, wait|
      stdin.close
      out = Thread.new { stdout.read }
      err = Thread.new { stderr.read }
      unless wait.join(limit)
        Process.kill(:KILL, wait.pid)
        flunk "the interpreter did not exit within #{limit} s (hung at exit)\nstdout: #{out.value}\nstderr: #{err.value}"
      end
      [out.value, err.value, wait.value]
    end
  end

  def test_exit_with_a_request_in_flight
    script = <<~RUBY
      require "nhttps"
      $stdout.sync = true
      started = Queue.new
      server = Nhttps.create_server(dev_certificate: true) do |_req, res|
        started << true
        sleep 0.3
        res.end("finished during exit")
      end
      server.listen(0, "127.0.0.1")
      Thread.new do
        body = Nhttps.get("https://127.0.0.1:\#{server.port}/", reject_unauthorized: false, &:read)
        puts "client got: \#{body}"
      end
      started.pop
      puts "exiting"
      # no server.close: the at_exit hook must close it
    RUBY
    out, err, status = run_script(script)
    assert status.success?, "exit status #{status.inspect}\nstdout: #{out}\nstderr: #{err}"
    assert_includes out, "exiting"
    refute_match(/\[BUG\]|Abort|Segmentation/, err)
  end

  def test_exit_with_an_idle_server_and_busy_clients
    script = <<~RUBY
      require "nhttps"
      server = Nhttps.create_server(dev_certificate: true) { |req, res| res.end(req.url) }
      server.listen(0, "127.0.0.1")
      4.times.map do |i|
        Thread.new do
          loop { Nhttps.get("https://127.0.0.1:\#{server.port}/\#{i}", reject_unauthorized: false, &:read) }
        rescue Nhttps::Error
          nil
        end
      end
      sleep 0.3
      exit 0
    RUBY
    out, err, status = run_script(script)
    assert status.success?, "exit status #{status.inspect}\nstdout: #{out}\nstderr: #{err}"
    refute_match(/\[BUG\]|Abort|Segmentation/, err)
  end
end
