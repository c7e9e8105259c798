// Internal to the configuration loader (common/config*.cpp), not part of its interface: the
// Section that wraps one TOML table (typed values, the keys read, unknown keys rejected, every
// error as "file:line: [section] key: problem") and the loaders of one file each. toml++ is
// included here and by those files only; config.hpp does not see it.
#pragma once

#include "common/config.hpp"
#include "common/duration.hpp"

#include <toml++/toml.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <string_view>

namespace postern::config::detail {

namespace fs = std::filesystem;

struct Context {
  std::string file;   // as shown in errors
  fs::path base_dir;  // relative paths are resolved against this
  std::map<std::string, std::uint32_t, std::less<>>* key_lines = nullptr;  // "section.key" -> line
};

inline std::string quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

inline std::string describe(const toml::node& n) {
  if (auto s = n.as_string()) return quote(s->get());
  switch (n.type()) {
    case toml::node_type::integer: return "integer " + std::to_string(n.as_integer()->get());
    case toml::node_type::floating_point: return "a floating-point number";
    case toml::node_type::boolean: return n.as_boolean()->get() ? "true" : "false";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    default: return "a date/time";
  }
}

class Section {
 public:
  Section(const Context& ctx, std::string name, const toml::table* table)
      : ctx_(ctx), name_(std::move(name)), table_(table) {}

  [[noreturn]] void fail_at(const toml::node* node, std::string_view key, const std::string& msg) const {
    std::uint32_t line = node ? node->source().begin.line : 0;
    if (line == 0 && table_) line = table_->source().begin.line;
    std::string where = ctx_.file + (line ? ":" + std::to_string(line) : std::string()) + ": [" + name_ + "]";
    throw ConfigError(where + (key.empty() ? "" : " " + std::string(key)) + ": " + msg);
  }
  [[noreturn]] void fail(std::string_view key, const std::string& msg) const {
    fail_at(table_ ? table_->get(key) : nullptr, key, msg);
  }

  bool has(std::string_view key) const { return table_ && table_->contains(key); }
  const toml::node* get(std::string_view key) {
    used_.emplace(key);
    const toml::node* n = table_ ? table_->get(key) : nullptr;
    if (n != nullptr && ctx_.key_lines != nullptr && n->source().begin.line != 0) {
      (*ctx_.key_lines)[name_ + "." + std::string(key)] = n->source().begin.line;
    }
    return n;
  }

  // A string-valued key run through `parse`; `expected` completes "expected ...".
  template <typename Parse>
  auto parsed(std::string_view key, std::string_view expected, Parse parse)
      -> std::optional<typename std::invoke_result_t<Parse, std::string_view>::value_type> {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    return parse_node(*n, key, expected, parse);
  }

  template <typename Parse>
  auto parse_node(const toml::node& n, std::string_view key, std::string_view expected, Parse parse)
      -> typename std::invoke_result_t<Parse, std::string_view>::value_type {
    if (auto s = n.as_string()) {
      if (auto v = parse(std::string_view(s->get()))) return std::move(*v);
    }
    fail_at(&n, key, "expected " + std::string(expected) + ", got " + describe(n));
  }

  template <typename Parse>
  auto list(std::string_view key, std::string_view expected, Parse parse)
      -> std::optional<std::vector<typename std::invoke_result_t<Parse, std::string_view>::value_type>> {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    const toml::array* arr = n->as_array();
    if (!arr) fail_at(n, key, "expected a list of " + std::string(expected) + ", got " + describe(*n));
    std::vector<typename std::invoke_result_t<Parse, std::string_view>::value_type> out;
    for (const toml::node& element : *arr) out.push_back(parse_node(element, key, expected, parse));
    return out;
  }

  std::optional<std::string> string(std::string_view key) {
    return parsed(key, "a string", [](std::string_view s) -> std::optional<std::string> {
      if (s.empty()) return std::nullopt;
      return std::string(s);
    });
  }
  std::optional<fs::path> path(std::string_view key) {
    auto s = parsed(key, "a non-empty path", [](std::string_view v) -> std::optional<std::string> {
      if (v.empty()) return std::nullopt;
      return std::string(v);
    });
    if (!s) return std::nullopt;
    fs::path p(*s);
    return p.is_relative() ? (ctx_.base_dir / p).lexically_normal() : p;
  }
  std::optional<bool> boolean(std::string_view key) {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    if (auto b = n->as_boolean()) return b->get();
    fail_at(n, key, "expected true or false, got " + describe(*n));
  }
  std::optional<std::uint64_t> integer(std::string_view key, std::uint64_t min, std::uint64_t max) {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    auto i = n->as_integer();
    if (!i || i->get() < 0 || static_cast<std::uint64_t>(i->get()) < min ||
        static_cast<std::uint64_t>(i->get()) > max)
      fail_at(n, key, "expected an integer from " + std::to_string(min) + " to " + std::to_string(max) +
                          ", got " + describe(*n));
    return static_cast<std::uint64_t>(i->get());
  }
  std::optional<std::chrono::milliseconds> duration(std::string_view key) {
    return parsed(key, "a duration like \"300ms\", \"10s\", \"2m\" or \"1h\"", parse_duration);
  }
  std::optional<std::uint64_t> size(std::string_view key) {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    if (auto i = n->as_integer(); i && i->get() >= 0) return static_cast<std::uint64_t>(i->get());
    return parse_node(*n, key, "a size like \"35M\", \"512K\" or a number of bytes", parse_size);
  }

  template <typename T>
  T required(std::optional<T> v, std::string_view key) const {
    if (!v) fail(key, "required key is missing");
    return std::move(*v);
  }

  // Unknown keys are errors so that a typo ("keepalve") is not silently ignored.
  void reject_unknown() const {
    if (!table_) return;
    for (const auto& [key, node] : *table_) {
      if (!used_.count(std::string(key.str())))
        fail_at(&node, key.str(), "unknown key (see docs/configuration.md)");
    }
  }

  const std::string& name() const { return name_; }

 private:
  const Context& ctx_;
  std::string name_;
  const toml::table* table_;
  std::set<std::string, std::less<>> used_;
};

// [auth] with its [auth.ldap] / [auth.radius] (config_auth.cpp).
AuthConfig load_auth(const Context& ctx, Section& s);

}  // namespace postern::config::detail
