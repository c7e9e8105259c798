// Operator logs: one line per event, a session id and key=value pairs.
//   2026-11-27T20:41:07.512Z info smtp id=8f3a connected peer=10.77.0.2:40112
// Cores and adapters call log::event(); the binary installs the sink (stderr by default).
// Under systemd, when stderr is the journal (JOURNAL_STREAM names stderr's device:inode, see
// systemd.exec(5)), the default sink prefixes each line with its syslog priority ("<4>" for a
// warning, sd-daemon.h's SD_WARNING) and leaves out the timestamp, which journald records
// itself; `journalctl -p warning` then filters by level. The key=value text is the same.
// Contract: values are escaped (quoted when they hold spaces, quotes or control bytes) so one
// event is always one line; secrets must never be passed here.
// The event is a snake_case identifier ([a-z][a-z0-9_]*: "session_up", "auth_rejected"), never a
// phrase, so a line splits unambiguously into component, id=, event and key=value fields; what an
// operator should read goes into fields (effect=..., hint=..., reason=...). EventName enforces it at
// compile time: it is built only from a string literal that passes is_event_name(), so
// log::info("tunnel", id, "session up") does not compile. Variable parts go into fields.
#pragma once

#include <cstddef>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>

namespace postern::log {

enum class Level { debug, info, warning, error };
std::string_view to_string(Level level);

// True for a valid event name: [a-z][a-z0-9_]*, at most 64 characters, no "__", no trailing "_".
constexpr bool is_event_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() < 'a' || name.front() > 'z' || name.back() == '_') {
    return false;
  }
  char previous = 0;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok || (c == '_' && previous == '_')) return false;
    previous = c;
  }
  return true;
}

// An event name checked at compile time (see the header comment). Copyable at run time, so a
// choice between two literals is written `cond ? EventName("a") : EventName("b")`.
class EventName {
 public:
  template <std::size_t N>
  consteval EventName(const char (&literal)[N]) : text_(literal, N - 1) {  // NOLINT: implicit on purpose
    // Not a constant expression, so a bad literal is a compile error ("call to consteval function
    // is not a constant expression", pointing at this line).
    if (!is_event_name(text_)) throw "log event names are snake_case: [a-z][a-z0-9_]*";
  }
  constexpr std::string_view text() const { return text_; }

 private:
  std::string_view text_;
};

struct Field {
  std::string_view key;
  std::string value;
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  template <typename Int>
    requires std::is_integral_v<Int>
  Field(std::string_view k, Int v) : key(k), value(std::to_string(v)) {}
};

// syslog(3) priority of a level: error 3, warning 4, info 6, debug 7 (SD_ERR ... SD_DEBUG).
int syslog_priority(Level level);

// True when `journal_stream` (JOURNAL_STREAM's value, "DEV:INODE" in decimal) names the file
// `fd` is open on. False for nullptr, malformed text or a bad fd.
bool is_journal_stream(const char* journal_stream, int fd);

// The default sink's line for `level`: "<6>info smtp ..." when `journal`, else
// "<timestamp> info smtp ...". No trailing newline.
std::string format_stderr_line(Level level, std::string_view line, bool journal, std::string_view timestamp);

// Formats "component id=ID event k=v ..." (no timestamp, no level): what sinks receive.
std::string format_line(std::string_view component, std::string_view id, EventName event,
                        std::initializer_list<Field> fields);

using Sink = std::function<void(Level, std::string_view line)>;
// Installs the process-wide sink; returns the previous one. Not thread-safe against concurrent
// logging: call at startup or in tests.
Sink set_sink(Sink sink);
void set_min_level(Level level);

void event(Level level, std::string_view component, std::string_view id, EventName event,
           std::initializer_list<Field> fields = {});

inline void info(std::string_view component, std::string_view id, EventName ev,
                 std::initializer_list<Field> fields = {}) {
  event(Level::info, component, id, ev, fields);
}
inline void warn(std::string_view component, std::string_view id, EventName ev,
                 std::initializer_list<Field> fields = {}) {
  event(Level::warning, component, id, ev, fields);
}
inline void error(std::string_view component, std::string_view id, EventName ev,
                  std::initializer_list<Field> fields = {}) {
  event(Level::error, component, id, ev, fields);
}
inline void debug(std::string_view component, std::string_view id, EventName ev,
                  std::initializer_list<Field> fields = {}) {
  event(Level::debug, component, id, ev, fields);
}

}  // namespace postern::log
