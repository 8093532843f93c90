# frozen_string_literal: true

# Builds Nhttps::Speedups (speedups.c), the Rack handler's environment
# builder in C. Optional: without Ruby's headers the gem goes on without it
# (lib/nhttps/rack.rb builds the same environment in Ruby).
require "mkmf"

$CFLAGS << " -O2 -Wall -Wno-unused-parameter"
have_func("rb_enc_interned_str", "ruby.h") # Ruby 3.0: names shared between requests
create_makefile("nhttps/speedups")
