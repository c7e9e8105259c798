// Password input for the commands; see password_prompt.hpp. C stdio, not iostreams: `send`
// reads the body from the same stdin after the password line, and must find it unbuffered.
#include "tools/postern/password_prompt.hpp"

#include <openssl/crypto.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <stdexcept>

namespace postern::cli {
namespace {

// One line (without CR LF) from `in` into a SecretBytes; false at end of input with nothing read.
bool read_line(std::FILE* in, SecretBytes& out) {
  std::string line;
  int c = 0;
  while ((c = std::fgetc(in)) != EOF && c != '\n') line += static_cast<char>(c);
  const bool got = c == '\n' || !line.empty();
  if (!line.empty() && line.back() == '\r') line.pop_back();
  out = SecretBytes(line);
  OPENSSL_cleanse(line.data(), line.size());
  return got;
}

// Asks on the controlling terminal with echo off, restoring the terminal on every path.
SecretBytes prompt_tty(const std::string& text) {
  std::unique_ptr<std::FILE, decltype(&std::fclose)> tty(std::fopen("/dev/tty", "r+"), &std::fclose);
  if (!tty) throw std::runtime_error("no terminal to ask for the password on; pipe it on stdin");
  const int fd = fileno(tty.get());
  termios old{};
  const bool have_termios = ::tcgetattr(fd, &old) == 0;
  std::fprintf(tty.get(), "%s: ", text.c_str());
  std::fflush(tty.get());
  if (have_termios) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  SecretBytes out;
  const bool got = read_line(tty.get(), out);
  if (have_termios) ::tcsetattr(fd, TCSAFLUSH, &old);
  std::fprintf(tty.get(), "\n");
  if (!got) throw std::runtime_error("no password typed");
  return out;
}

SecretBytes from_stdin() {
  SecretBytes out;
  if (!read_line(stdin, out) || out.empty()) throw std::runtime_error("no password given on stdin (its first line)");
  return out;
}

}  // namespace

SecretBytes read_password(const std::string& prompt) {
  if (!::isatty(STDIN_FILENO)) return from_stdin();
  return prompt_tty(prompt);
}

SecretBytes read_new_password(const std::string& prompt) {
  if (!::isatty(STDIN_FILENO)) return from_stdin();
  SecretBytes first = prompt_tty(prompt);
  SecretBytes second = prompt_tty("Again");
  if (!constant_time_equal(first.span(), second.span())) throw std::runtime_error("passwords do not match");
  if (first.empty()) throw std::runtime_error("empty password refused");
  return first;
}

}  // namespace postern::cli
