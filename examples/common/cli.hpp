#pragma once
// The command-line parser of the vaegan command, the benchmarks (benchmarks/) and
// tests/crash: a thin layer over CLI11 (Debian's libcli11-dev, header-only). CLI11 does
// the parsing: --name value, --name=value, short forms (-e 5), --no-switch, --help,
// --version. This layer adds what each of our flags needs and CLI11 2.1 does not do:
//   - help that fits 80 columns: flags in named groups, each default printed once;
//   - a value check per type that quotes the bad value ("--epochs expects N, got 'x'");
//   - checks across flags after parsing (require), with messages that say the fix;
//   - "did you mean --epochs?" for an unknown flag;
//   - one exit code for every usage error: 2, with one line on stderr.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <vaegan/core/config.hpp>

namespace cli {

// Exit codes shared by every command.
constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;

inline std::string version_text() {
  return "vaegan " + std::to_string(VAEGAN_VERSION_MAJOR) + "." + std::to_string(VAEGAN_VERSION_MINOR) + "." +
         std::to_string(VAEGAN_VERSION_PATCH);
}

// Words of `text` on lines of at most `width` columns, every line after the first indented
// by `indent` spaces (the first is the caller's).
inline std::string wrap(const std::string& text, std::size_t width, std::size_t indent, std::size_t first_used) {
  std::string out;
  std::size_t used = first_used;
  std::istringstream words(text);
  std::string word;
  bool line_empty = true;
  while (words >> word) {
    if (!line_empty && used + 1 + word.size() > width) {
      out += "\n" + std::string(indent, ' ');
      used = indent;
      line_empty = true;
    }
    if (!line_empty) {
      out += ' ';
      ++used;
    }
    out += word;
    used += word.size();
    line_empty = false;
  }
  return out;
}

// Levenshtein distance, for "did you mean".
inline std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// The closest of `known` to `word` if it is close enough to be a likely typo, else "".
inline std::string closest(const std::string& word, const std::vector<std::string>& known) {
  std::string best;
  std::size_t best_distance = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const auto& k : known) {
    const bool prefix = k.size() > word.size() && k.compare(0, word.size(), word) == 0 && word.size() >= 3;
    const std::size_t d = prefix ? 1 : edit_distance(word, k);
    if (d < best_distance) {
      best_distance = d;
      best = k;
    }
  }
  return best;
}

class Parser {
 public:
  // `program` as the user types it ("vaegan train"); `summary` opens the help.
  Parser(std::string program, std::string summary)
      : program_(std::move(program)), summary_(std::move(summary)), app_(summary_, program_) {
    app_.set_help_flag();  // --help and --version are handled before CLI11 parses
    app_.allow_extras(false);
  }
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  // The help group of the flags added after this call ("Data", "Training", ...).
  void group(std::string name) { group_ = std::move(name); }
  // A paragraph printed after the flags (examples, where to read more).
  void footer(std::string text) { footer_ = std::move(text); }

  // `name` is "epochs" or "e,epochs" (with a one-letter short form). Each add() shows the
  // target's value at that time as the flag's default.
  void add(const std::string& name, std::string* target, const std::string& help, const std::string& metavar = "TEXT") {
    add_flag(name, help, *target, metavar, [target](const std::string& v) {
      *target = v;
      return true;
    });
  }
  void add(const std::string& name, std::int64_t* target, const std::string& help, const std::string& metavar = "N") {
    add_flag(name, help, std::to_string(*target), metavar,
             [target](const std::string& v) { return parse_int(v, target); });
  }
  // An unsigned 64-bit integer (seeds): the full range, no sign.
  void add(const std::string& name, std::uint64_t* target, const std::string& help, const std::string& metavar = "N") {
    add_flag(name, help, std::to_string(*target), metavar, [target](const std::string& v) {
      if (v.empty() || v[0] < '0' || v[0] > '9') return false;
      char* end = nullptr;
      errno = 0;
      const unsigned long long x = std::strtoull(v.c_str(), &end, 10);
      if (*end != '\0' || errno == ERANGE) return false;
      *target = x;
      return true;
    });
  }
  void add(const std::string& name, double* target, const std::string& help, const std::string& metavar = "X") {
    add_flag(name, help, format_double(*target), metavar,
             [target](const std::string& v) { return parse_double(v, target); });
  }
  // A number with no default: unset unless given (its help says what applies then).
  void add(const std::string& name, std::optional<double>* target, const std::string& help,
           const std::string& metavar = "X") {
    add_flag(name, help, target->has_value() ? format_double(**target) : "", metavar, [target](const std::string& v) {
      double x = 0;
      if (!parse_double(v, &x)) return false;
      *target = x;
      return true;
    });
  }
  // Comma-separated lists (--threads 1,2 or --methods gan,vae): one item or more, none
  // empty. A value given on the command line replaces the default list.
  void add(const std::string& name, std::vector<std::string>* target, const std::string& help,
           const std::string& metavar = "A,B,...") {
    add_flag(name, help, join(*target), metavar, [target](const std::string& v) { return split_list(v, target); });
  }
  void add(const std::string& name, std::vector<std::int64_t>* target, const std::string& help,
           const std::string& metavar = "N,N,...") {
    std::vector<std::string> default_items;
    for (const std::int64_t x : *target) default_items.push_back(std::to_string(x));
    add_flag(name, help, join(default_items), metavar, [target](const std::string& v) {
      std::vector<std::string> items;
      if (!split_list(v, &items)) return false;
      std::vector<std::int64_t> values(items.size());
      for (std::size_t i = 0; i < items.size(); ++i)
        if (!parse_int(items[i], &values[i])) return false;
      *target = std::move(values);
      return true;
    });
  }
  // A switch: --name turns it on, --no-name or --name=false turns it off.
  void add_switch(const std::string& name, bool* target, const std::string& help) {
    Flag flag = make_flag(name, help, *target ? "on" : "off", "");
    flag.is_switch = true;
    const std::string long_name = flag.long_name;
    CLI::Option* option = app_.add_flag_function(
        cli_names(flag) + ",!--no-" + long_name, [this, target, long_name](std::int64_t count) { *target = count > 0; },
        help);
    option->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    flag.option = option;
    flags_.push_back(std::move(flag));
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
  bool given(const std::string& name) const {
    for (const auto& f : flags_)
      if (f.long_name == name) return f.option->count() > 0;
    return false;
  }

  // Parses argv (argv[0] is not a flag); on --help prints the help and exits 0, on
  // --version the version; on bad input prints one line and exits 2.
  void parse(int argc, char** argv) {
    std::vector<std::string> args;
    for (int i = argc - 1; i >= 1; --i) args.emplace_back(argv[i]);  // CLI11 takes them reversed
    for (const auto& arg : args) {
      if (arg == "--help" || arg == "-h") {
        if (!quiet_) std::cout << help();
        std::exit(0);
      }
      if (arg == "--version") {
        if (!quiet_) std::cout << version_text() << "\n";
        std::exit(0);
      }
    }
    check_flag_names(argc, argv);
    try {
      app_.parse(args);
    } catch (const CLI::ParseError& e) {
      fail(describe(e));
    }
    if (!bad_value_.empty()) fail(bad_value_);
    for (const auto& c : checks_)
      if (!c.check()) fail(c.message());
  }

  [[noreturn]] void fail(const std::string& message) const {
    if (!quiet_) std::cerr << program_ << ": " << message << " (run " << program_ << " --help for the flags)\n";
    std::exit(kExitUsage);
  }

  // The help: usage, summary, the flags by group (in the order of their first flag), footer.
  std::string help() const {
    constexpr std::size_t kWidth = 80, kLeft = 26;
    std::string out = "usage: " + program_ + " [flags]\n" + wrap_paragraphs(summary_, kWidth) + "\n";
    std::vector<std::string> groups;
    for (const auto& f : flags_)
      if (std::find(groups.begin(), groups.end(), f.group) == groups.end()) groups.push_back(f.group);
    for (const auto& g : groups) {
      out += "\n" + (g.empty() ? std::string("Flags") : g) + ":\n";
      for (const auto& f : flags_)
        if (f.group == g) out += flag_line(f, kWidth, kLeft);
    }
    out += "\n";
    out += flag_line(make_flag("h,help", "show this help and exit", "", ""), kWidth, kLeft);
    out += flag_line(make_flag("version", "show the version and exit", "", ""), kWidth, kLeft);
    if (!footer_.empty()) out += "\n" + wrap_paragraphs(footer_, kWidth) + "\n";
    return out;
  }
  void print_help(std::ostream& out) const { out << help(); }

  const std::string& program() const { return program_; }

 private:
  struct Flag {
    std::string long_name, short_name, help, default_text, metavar, group;
    bool is_switch = false;
    CLI::Option* option = nullptr;
  };
  struct Check {
    std::function<bool()> check;
    std::function<std::string()> message;
  };

  Flag make_flag(const std::string& name, const std::string& help, std::string default_text,
                 const std::string& metavar) const {
    Flag f;
    const std::size_t comma = name.find(',');
    f.short_name = comma == std::string::npos ? "" : name.substr(0, comma);
    f.long_name = comma == std::string::npos ? name : name.substr(comma + 1);
    f.help = help;
    f.default_text = std::move(default_text);
    f.metavar = metavar;
    f.group = group_;
    return f;
  }
  static std::string cli_names(const Flag& f) {
    return (f.short_name.empty() ? "" : "-" + f.short_name + ",") + "--" + f.long_name;
  }

  void add_flag(const std::string& name, const std::string& help, const std::string& default_text,
                const std::string& metavar, std::function<bool(const std::string&)> set) {
    Flag flag = make_flag(name, help, default_text, metavar);
    const std::string shown = "--" + flag.long_name;
    CLI::Option* option = app_.add_option_function<std::string>(
        cli_names(flag),
        [this, set = std::move(set), shown, metavar](const std::string& v) {
          if (!set(v) && bad_value_.empty()) bad_value_ = shown + " expects " + metavar + ", got '" + v + "'";
        },
        help);
    option->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    flag.option = option;
    flags_.push_back(std::move(flag));
  }

  // An unknown --flag gets a suggestion, before CLI11 would report it without one.
  void check_flag_names(int argc, char** argv) const {
    std::vector<std::string> known;
    for (const auto& f : flags_) {
      known.push_back(f.long_name);
      if (f.is_switch) known.push_back("no-" + f.long_name);
    }
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      if (arg == "--") break;
      if (arg.rfind("--", 0) != 0) continue;
      const std::string name =
          arg.substr(2, arg.find('=') == std::string::npos ? std::string::npos : arg.find('=') - 2);
      if (std::find(known.begin(), known.end(), name) != known.end()) {
        const Flag* flag = find(name);
        if (flag != nullptr && !flag->is_switch && arg.find('=') == std::string::npos) ++i;  // skip its value
        continue;
      }
      const std::string guess = closest(name, known);
      fail("unknown flag --" + name + (guess.empty() ? "" : "; did you mean --" + guess + "?"));
    }
  }
  const Flag* find(const std::string& long_name) const {
    for (const auto& f : flags_)
      if (f.long_name == long_name) return &f;
    return nullptr;
  }

  // CLI11's errors in our words.
  std::string describe(const CLI::ParseError& e) const {
    const std::string what = e.what();
    const std::size_t colon = what.find(':');
    if (dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr)
      return "unexpected argument" + what.substr(colon == std::string::npos ? what.size() : colon);
    if (dynamic_cast<const CLI::ArgumentMismatch*>(&e) != nullptr && colon != std::string::npos) {
      const std::string name = what.substr(0, colon);  // "--checkpoint" (or "-c")
      for (const auto& f : flags_)
        if (name == "--" + f.long_name || name == "-" + f.short_name)
          return "--" + f.long_name + " needs a value (" + f.metavar + ")";
    }
    return what;
  }

  static std::string flag_line(const Flag& f, std::size_t width, std::size_t left_width) {
    std::string left = "  " + (f.short_name.empty() ? std::string("    ") : "-" + f.short_name + ", ") + "--" +
                       f.long_name + (f.metavar.empty() ? "" : " " + f.metavar);
    std::string text = f.help;
    if (f.is_switch) {
      if (f.default_text == "on") text += " (on by default; --no-" + f.long_name + " turns it off)";
    } else if (!f.default_text.empty()) {
      text += " (default: " + f.default_text + ")";
    }
    if (left.size() + 2 > left_width)
      return left + "\n" + std::string(left_width, ' ') + wrap(text, width, left_width, left_width) + "\n";
    left.resize(left_width, ' ');
    return left + wrap(text, width, left_width, left_width) + "\n";
  }
  static std::string wrap_paragraphs(const std::string& text, std::size_t width) {
    std::string out;
    std::size_t start = 0;
    while (start <= text.size()) {
      const std::size_t end = text.find('\n', start);
      const std::string line = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
      out += (out.empty() ? "" : "\n") + wrap(line, width, 0, 0);
      if (end == std::string::npos) break;
      start = end + 1;
    }
    return out;
  }

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
  static bool parse_double(const std::string& v, double* target) {
    char* end = nullptr;
    errno = 0;
    const double x = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || errno == ERANGE) return false;
    *target = x;
    return true;
  }
  static std::string format_double(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
  }

  std::string program_, summary_, group_, footer_;
  CLI::App app_;
  bool quiet_ = false;
  std::string bad_value_;
  std::vector<Flag> flags_;
  std::vector<Check> checks_;
};

}  // namespace cli
