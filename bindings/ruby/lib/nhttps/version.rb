# frozen_string_literal: true

module Nhttps
  # The binding's version; it follows the library's (see Nhttps.library_version).
  VERSION = "0.1.0"
end
