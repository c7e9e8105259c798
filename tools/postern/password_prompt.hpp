// The one way postern's commands ask for a password (`user add`, `send --auth`, `pki issue
// --email`). When stdin is not a terminal the password is its first line (scripts pipe it; it is
// never an argument, where `ps` would show it), and the rest of stdin is left for the caller;
// otherwise it is asked for on the terminal (/dev/tty) with echo off, twice for a new password.
// Contract: the result and every temporary copy live in SecretBytes or are wiped; errors throw
// std::runtime_error with a sentence for the user.
#pragma once

#include "common/secret.hpp"

#include <string>

namespace postern::cli {

// An existing password: stdin's first line, or one prompt "<prompt>: " on the terminal.
SecretBytes read_password(const std::string& prompt);

// A new password: stdin's first line, or prompted twice ("<prompt>: ", "Again: ") and compared.
// Empty passwords are refused.
SecretBytes read_new_password(const std::string& prompt);

}  // namespace postern::cli
