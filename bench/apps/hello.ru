# The Rack "hello" of bench/apps.sh: 13 bytes, content-length set.
run ->(_env) { [200, { "content-type" => "text/plain", "content-length" => "13" }, ["Hello, world!"]] }
