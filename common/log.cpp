// Formatting and the default stderr sink for operator logs (see log.hpp).
#include "common/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
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
Sink g_sink = [](Level level, std::string_view line) {
  std::string out = timestamp();
  out.push_back(' ');
  out.append(to_string(level));
  out.push_back(' ');
  out.append(line);
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

std::string format_line(std::string_view component, std::string_view id, std::string_view ev,
                        std::initializer_list<Field> fields) {
  std::string out;
  out.reserve(96);
  out.append(component);
  if (!id.empty()) {
    out.append(" id=");
    append_value(out, id);
  }
  out.push_back(' ');
  out.append(ev);
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

void event(Level level, std::string_view component, std::string_view id, std::string_view ev,
           std::initializer_list<Field> fields) {
  if (static_cast<int>(level) < g_min_level.load(std::memory_order_relaxed)) return;
  std::string line = format_line(component, id, ev, fields);
  std::lock_guard lock(g_mutex);
  if (g_sink) g_sink(level, line);
}

}  // namespace postern::log
