#pragma once
// A small declarative command-line parser for the examples: --name value or --name=value,
// --help lists every flag with its default. Bad input (unknown flag, missing or malformed
// value, failed check) prints one line naming the problem and the fix and exits with 2.
// Shared by the examples, the benchmarks (benchmarks/) and tests/crash.
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace cli {

// Exit codes shared by every example.
constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;

class Parser {
 public:
  Parser(std::string program, std::string summary) : program_(std::move(program)), summary_(std::move(summary)) {}

  void add(const std::string& name, std::string* target, const std::string& help) {
    flags_.push_back({name, help, *target, "STRING", [target](const std::string& v) {
                        *target = v;
                        return true;
                      }});
  }
  void add(const std::string& name, std::int64_t* target, const std::string& help) {
    flags_.push_back(
        {name, help, std::to_string(*target), "INT", [target](const std::string& v) { return parse_int(v, target); }});
  }
  // An unsigned 64-bit integer (seeds): the full range, no sign.
  void add(const std::string& name, std::uint64_t* target, const std::string& help) {
    flags_.push_back({name, help, std::to_string(*target), "UINT", [target](const std::string& v) {
                        if (v.empty() || v[0] < '0' || v[0] > '9') return false;
                        char* end = nullptr;
                        errno = 0;
                        const unsigned long long x = std::strtoull(v.c_str(), &end, 10);
                        if (*end != '\0' || errno == ERANGE) return false;
                        *target = x;
                        return true;
                      }});
  }
  // Comma-separated lists (--threads 1,2 or --methods gan,vae): one item or more, none
  // empty. A value given on the command line replaces the default list.
  void add(const std::string& name, std::vector<std::string>* target, const std::string& help) {
    flags_.push_back({name, help, join(*target), "STRING[,STRING...]",
                      [target](const std::string& v) { return split_list(v, target); }});
  }
  void add(const std::string& name, std::vector<std::int64_t>* target, const std::string& help) {
    std::vector<std::string> default_items;
    for (const std::int64_t x : *target) default_items.push_back(std::to_string(x));
    flags_.push_back({name, help, join(default_items), "INT[,INT...]", [target](const std::string& v) {
                        std::vector<std::string> items;
                        if (!split_list(v, &items)) return false;
                        std::vector<std::int64_t> values(items.size());
                        for (std::size_t i = 0; i < items.size(); ++i)
                          if (!parse_int(items[i], &values[i])) return false;
                        *target = std::move(values);
                        return true;
                      }});
  }
  void add(const std::string& name, double* target, const std::string& help) {
    flags_.push_back({name, help, format_double(*target), "NUMBER", [target](const std::string& v) {
                        char* end = nullptr;
                        errno = 0;
                        const double x = std::strtod(v.c_str(), &end);
                        if (v.empty() || *end != '\0' || errno == ERANGE) return false;
                        *target = x;
                        return true;
                      }});
  }
  // A switch: --name turns it on, --name=false / --no-name turns it off.
  void add_switch(const std::string& name, bool* target, const std::string& help) {
    flags_.push_back({name, help, *target ? "on" : "off", "",
                      [target](const std::string& v) {
                        if (v == "" || v == "true" || v == "1" || v == "on") *target = true;
                        else if (v == "false" || v == "0" || v == "off") *target = false;
                        else return false;
                        return true;
                      },
                      true});
  }
  // A check run after parsing; `message` is printed when it fails. Say what is wrong and
  // what to pass instead.
  void require(std::function<bool()> check, std::string message) {
    checks_.push_back({std::move(check), [m = std::move(message)] { return m; }});
  }
  // The same with a message built after parsing, so it can quote the values given.
  void require(std::function<bool()> check, std::function<std::string()> message) {
    checks_.push_back({std::move(check), std::move(message)});
  }

  // Exits with the usage codes without printing: the processes of an MPI run other than
  // process 0, which all parse the same command line and would repeat its messages.
  void set_quiet(bool quiet) { quiet_ = quiet; }

  // Whether --name (or --no-name) was on the command line, as opposed to its default.
  bool given(const std::string& name) const { return given_.count(name) != 0; }

  // Parses argv; on --help prints usage and exits 0; on bad input exits 2.
  void parse(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i];
      if (arg == "--help" || arg == "-h") {
        if (!quiet_) print_help(std::cout);
        std::exit(0);
      }
      if (arg.rfind("--", 0) != 0) fail("unexpected argument '" + arg + "'");
      std::string name = arg.substr(2), value;
      bool has_value = false;
      if (const auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_value = true;
      }
      bool negated = false;
      Flag* flag = find(name);
      if (flag == nullptr && name.rfind("no-", 0) == 0) {
        flag = find(name.substr(3));
        negated = flag != nullptr && flag->is_switch;
        if (!negated) flag = nullptr;
      }
      if (flag == nullptr) fail("unknown flag --" + name);
      given_.insert(flag->name);
      if (flag->is_switch) {
        if (negated) value = "false";
        if (!flag->set(value)) fail("--" + name + " takes true or false, got '" + value + "'");
        continue;
      }
      if (!has_value) {
        if (i + 1 >= argc) fail("--" + name + " needs a value (" + flag->metavar + ")");
        value = argv[++i];
      }
      if (!flag->set(value)) fail("--" + name + " expects " + flag->metavar + ", got '" + value + "'");
    }
    for (const auto& c : checks_)
      if (!c.check()) fail(c.message());
  }

  [[noreturn]] void fail(const std::string& message) const {
    if (!quiet_) std::cerr << program_ << ": " << message << " (run " << program_ << " --help for the flags)\n";
    std::exit(kExitUsage);
  }

  void print_help(std::ostream& out) const {
    out << "usage: " << program_ << " [flags]\n" << summary_ << "\n\nflags:\n";
    for (const auto& f : flags_) {
      std::string left = "  --" + f.name + (f.metavar.empty() ? "" : " " + f.metavar);
      if (left.size() < 30) left.resize(30, ' ');
      else left += "  ";
      out << left << f.help << " (default: " << (f.default_text.empty() ? "\"\"" : f.default_text) << ")\n";
    }
    out << "  --help                      show this help\n";
  }

 private:
  struct Flag {
    std::string name, help, default_text, metavar;
    std::function<bool(const std::string&)> set;
    bool is_switch = false;
  };
  struct Check {
    std::function<bool()> check;
    std::function<std::string()> message;
  };
  static bool split_list(const std::string& v, std::vector<std::string>* items) {
    std::vector<std::string> out;
    for (std::size_t start = 0;;) {
      const std::size_t comma = v.find(',', start);
      out.push_back(v.substr(start, comma == std::string::npos ? comma : comma - start));
      if (out.back().empty()) return false;
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    *items = std::move(out);
    return true;
  }
  static std::string join(const std::vector<std::string>& items) {
    std::string text;
    for (const auto& item : items) text += (text.empty() ? "" : ",") + item;
    return text;
  }
  static bool parse_int(const std::string& v, std::int64_t* target) {
    char* end = nullptr;
    errno = 0;
    const long long x = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || errno == ERANGE) return false;
    *target = x;
    return true;
  }
  Flag* find(const std::string& name) {
    for (auto& f : flags_)
      if (f.name == name) return &f;
    return nullptr;
  }
  static std::string format_double(double v) {
    std::string s = std::to_string(v);
    if (s.find('.') != std::string::npos) {
      while (!s.empty() && s.back() == '0') s.pop_back();
      if (!s.empty() && s.back() == '.') s.pop_back();
    }
    if (v != 0.0 && (std::abs(v) < 1e-3)) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%g", v);
      s = buf;
    }
    return s;
  }

  std::string program_, summary_;
  bool quiet_ = false;
  std::vector<Flag> flags_;
  std::vector<Check> checks_;
  std::set<std::string> given_;
};

}  // namespace cli
