# The Sinatra "hello" of bench/apps.sh.
require "sinatra/base"

class Hello < Sinatra::Base
  set :environment, :production
  get("/") { "Hello, world!" }
end
run Hello
