// Formatting and the default stderr sink for operator logs (see log.hpp).
#include "common/log.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>

namespace postern::log {
namespace {

bool needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (unsigned char c : v) {
    if (c <= 0x20 || c == '"' || c == '=' || c == 0x7f) return true;
  }
  return false;
}

void append_value(std::string& out, std::string_view v) {
  if (!needs_quotes(v)) {
    out.append(v);
    return;
  }
  out.push_back('"');
  for (unsigned char c : v) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out.append(buf);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out.push_back('"');
}

std::string timestamp() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

std::mutex g_mutex;
// Decided once: systemd sets JOURNAL_STREAM before exec, and stderr is not re-pointed later.
bool stderr_is_journal() {
  static const bool journal = is_journal_stream(std::getenv("JOURNAL_STREAM"), STDERR_FILENO);
  return journal;
}

Sink g_sink = [](Level level, std::string_view line) {
  const bool journal = stderr_is_journal();
  std::string out = format_stderr_line(level, line, journal, journal ? std::string() : timestamp());
  out.push_back('\n');
  std::fwrite(out.data(), 1, out.size(), stderr);
};
std::atomic<int> g_min_level{static_cast<int>(Level::info)};

}  // namespace

std::string_view to_string(Level level) {
  switch (level) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warning: return "warn";
    case Level::error: return "error";
  }
  return "?";
}

int syslog_priority(Level level) {
  switch (level) {
    case Level::debug: return 7;    // LOG_DEBUG
    case Level::info: return 6;     // LOG_INFO
    case Level::warning: return 4;  // LOG_WARNING
    case Level::error: return 3;    // LOG_ERR
  }
  return 6;
}

bool is_journal_stream(const char* journal_stream, int fd) {
  if (journal_stream == nullptr) return false;
  const char* end = journal_stream + std::strlen(journal_stream);
  const char* colon = std::find(journal_stream, end, ':');
  unsigned long long dev = 0, ino = 0;
  auto [dev_end, dev_ec] = std::from_chars(journal_stream, colon, dev);
  if (colon == end || dev_ec != std::errc{} || dev_end != colon) return false;
  auto [ino_end, ino_ec] = std::from_chars(colon + 1, end, ino);
  if (ino_ec != std::errc{} || ino_end != end || colon + 1 == end) return false;
  struct stat st {};
  if (::fstat(fd, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev && static_cast<unsigned long long>(st.st_ino) == ino;
}

std::string format_stderr_line(Level level, std::string_view line, bool journal, std::string_view stamp) {
  std::string out;
  out.reserve(line.size() + 32);
  if (journal) {
    out.push_back('<');
    out.append(std::to_string(syslog_priority(level)));
    out.push_back('>');
  } else {
    out.append(stamp);
    out.push_back(' ');
  }
  out.append(to_string(level));
  out.push_back(' ');
  out.append(line);
  return out;
}

std::string format_line(std::string_view component, std::string_view id, EventName ev,
                        std::initializer_list<Field> fields) {
  std::string out;
  out.reserve(96);
  out.append(component);
  if (!id.empty()) {
    out.append(" id=");
    append_value(out, id);
  }
  out.push_back(' ');
  out.append(ev.text());
  for (const auto& f : fields) {
    out.push_back(' ');
    out.append(f.key);
    out.push_back('=');
    append_value(out, f.value);
  }
  return out;
}

Sink set_sink(Sink sink) {
  std::lock_guard lock(g_mutex);
  std::swap(g_sink, sink);
  return sink;
}

void set_min_level(Level level) { g_min_level = static_cast<int>(level); }

void event(Level level, std::string_view component, std::string_view id, EventName ev,
           std::initializer_list<Field> fields) {
  if (static_cast<int>(level) < g_min_level.load(std::memory_order_relaxed)) return;
  std::string line = format_line(component, id, ev, fields);
  std::lock_guard lock(g_mutex);
  if (g_sink) g_sink(level, line);
}

}  // namespace postern::log
