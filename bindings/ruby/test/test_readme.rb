# frozen_string_literal: true

require_relative "helper"
require "open3"
require "rbconfig"

# The README's hello-world block must run as printed.
class TestReadme < Minitest::Test
  def test_hello_world_block_runs
    readme = File.read(File.expand_path("../README.md", __dir__))
    block = readme[/## Hello, world\s+```ruby\n(.*?)```/m, 1]
    refute_nil block, "README.md has a ruby block under 'Hello, world'"
    out, err, status = Open3.capture3(RbConfig.ruby, "-I", File.expand_path("../lib", __dir__), "-e", block,
                                      stdin_data: "")
    assert status.success?, "stderr: #{err}"
    lines = out.lines.map(&:chomp)
    assert_match(%r{\Alistening on https://127\.0\.0\.1:\d+/\z}, lines[0])
    assert_equal ["200", "text/plain", "hello from Ruby, you asked for /hi"], lines[1, 3]
  end
end
