# frozen_string_literal: true

require_relative "helper"
require "fileutils"
require "open3"
require "rbconfig"
require "tmpdir"

# How libnhttps is found: NHTTPS_LIBRARY, the gem's directory, the
# repository's build/lib, then the system loader.
class TestLibrary < Minitest::Test
  LIB = File.expand_path("../lib", __dir__)
  PRINT = 'require "nhttps"; print Nhttps.library_path'

  def ruby(env, lib, code)
    Open3.capture3(env, RbConfig.ruby, "-I", lib, "-e", code, stdin_data: "")
  end

  def test_repository_build_is_found
    out, err, status = ruby({ "NHTTPS_LIBRARY" => nil }, LIB, PRINT)
    assert status.success?, err
    real = File.expand_path("../../../build/lib/libnhttps.so.0", __dir__)
    assert_equal real, out
  end

  def test_environment_variable_wins_and_is_not_second_guessed
    path = Nhttps.library_path
    out, err, status = ruby({ "NHTTPS_LIBRARY" => path }, LIB, PRINT)
    assert status.success?, err
    assert_equal path, out
    _, err, status = ruby({ "NHTTPS_LIBRARY" => "/nonexistent/libnhttps.so" }, LIB, PRINT)
    refute status.success?
    assert_match(/could not load libnhttps.*NHTTPS_LIBRARY/m, err)
  end

  def test_gem_directory_is_found
    Dir.mktmpdir do |dir|
      FileUtils.cp_r(LIB, dir) # a copy of lib/ outside the repository, as an installed gem
      shipped = File.join(dir, "lib", "nhttps", "libnhttps.so")
      FileUtils.cp(File.realpath(Nhttps.library_path), shipped)
      out, err, status = ruby({ "NHTTPS_LIBRARY" => nil }, File.join(dir, "lib"), PRINT)
      assert status.success?, err
      assert_equal shipped, out
    end
  end
end
