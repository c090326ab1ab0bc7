#pragma once
// Per-epoch CSV logs: CsvAppender writes them, read_csv reads them back by column name.
//
// The format is plain: a header line of column names, then one line per row of numbers,
// comma-separated, '\n'-terminated. Numbers are written in the shortest form that reads
// back to the identical double (std::to_chars), independent of the C locale; NaN and
// infinities are written as nan, inf, -inf.
//
// Appending to an existing log continues a run (e.g. after resuming from a checkpoint):
// the header is written only when the file is new or empty, and a file whose header
// differs from the columns being logged is refused rather than mixed. A row is written
// with one fwrite and flushed at once, so a crash loses at most the row being written;
// a trailing partial line left by such a crash is cut off when the file is reopened.
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

#include "vaegan/core/config.hpp"
#include "vaegan/core/error.hpp"
#include "vaegan/core/format.hpp"
#include "vaegan/io/atomic_file.hpp"

namespace vaegan {

namespace detail {

inline bool parse_double(const std::string& text, double& out) {
  if (text.empty()) return false;
  const char* first = text.data();
  if (*first == '+') ++first;  // from_chars rejects a leading '+', other tools write one
  const auto res = std::from_chars(first, text.data() + text.size(), out);
  return res.ec == std::errc() && res.ptr == text.data() + text.size();
}

inline std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> fields;
  std::string::size_type start = 0;
  for (;;) {
    const auto comma = line.find(',', start);
    fields.push_back(line.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) return fields;
    start = comma + 1;
  }
}

inline std::string join_columns(const std::vector<std::string>& columns) {
  std::string s;
  for (std::size_t i = 0; i < columns.size(); ++i) s += (i ? "," : "") + columns[i];
  return s;
}

}  // namespace detail

class CsvAppender {
 public:
  // Opens (creating if needed) `path` for appending rows with the given columns. Throws
  // IoError if the file exists with a different header or cannot be opened.
  CsvAppender(std::string path, std::vector<std::string> columns)
      : path_(std::move(path)), columns_(std::move(columns)) {
    if (columns_.empty()) throw Error("CsvAppender: '" + path_ + "': no columns given");
    for (const auto& c : columns_)
      if (c.empty() || c.find_first_of(",\"\r\n") != std::string::npos)
        throw Error("CsvAppender: '" + path_ + "': column name '" + c +
                    "' is empty or contains a comma, quote or newline; use plain names like train_loss");
    const std::string header = detail::join_columns(columns_);
    const bool needs_header = prepare_existing_file(header);
    file_ = std::fopen(path_.c_str(), "ab");
    if (!file_) {
      const int err = errno;
      throw IoError("CsvAppender: cannot open '" + path_ + "' for appending: " + detail::errno_message(err) +
                    " (check that the directory exists and is writable)");
    }
    if (needs_header) write_line(header);
  }
  CsvAppender(const CsvAppender&) = delete;
  CsvAppender& operator=(const CsvAppender&) = delete;
  CsvAppender(CsvAppender&& o) noexcept : path_(std::move(o.path_)), columns_(std::move(o.columns_)), file_(o.file_) {
    o.file_ = nullptr;
  }
  ~CsvAppender() {
    if (file_) std::fclose(file_);
  }

  const std::string& path() const { return path_; }
  const std::vector<std::string>& columns() const { return columns_; }

  // Appends one row, one value per column in the order given to the constructor.
  void append(const std::vector<double>& values) {
    if (values.size() != columns_.size())
      throw Error("CsvAppender::append: '" + path_ + "' has " + std::to_string(columns_.size()) + " columns (" +
                  detail::join_columns(columns_) + "), got " + std::to_string(values.size()) + " values");
    std::string line;
    for (std::size_t i = 0; i < values.size(); ++i) line += (i ? "," : "") + detail::format_double(values[i]);
    write_line(line);
  }

 private:
  // Returns true if the header must be written. Cuts a partial last line off.
  bool prepare_existing_file(const std::string& header) {
    std::error_code ec;
    if (!std::filesystem::exists(path_, ec)) return true;
    std::ifstream in(path_, std::ios::binary);
    if (!in) throw IoError("CsvAppender: cannot read the existing '" + path_ + "' to check its header");
    const std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto last_newline = content.rfind('\n');
    if (content.empty() || last_newline == std::string::npos) {
      // Empty, or only a header that was cut off mid-write: start over.
      if (!content.empty()) resize(0);
      return true;
    }
    if (last_newline + 1 != content.size()) resize(last_newline + 1);
    std::string first = content.substr(0, content.find('\n'));
    if (!first.empty() && first.back() == '\r') first.pop_back();
    if (first != header)
      throw IoError("CsvAppender: '" + path_ + "' already exists with the columns [" + first +
                    "], but this run logs [" + header +
                    "]; refusing to mix them. Log to a new file or move the old one away.");
    return false;
  }

  void resize(std::uintmax_t size) {
    std::error_code ec;
    std::filesystem::resize_file(path_, size, ec);
    if (ec) throw IoError("CsvAppender: cannot cut the incomplete last line off '" + path_ + "': " + ec.message());
  }

  void write_line(std::string line) {
    line += '\n';
    if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0) {
      const int err = errno;
      throw IoError("CsvAppender: writing to '" + path_ + "' failed: " + detail::errno_message(err) +
                    " (is the disk full?)");
    }
  }

  std::string path_;
  std::vector<std::string> columns_;
  std::FILE* file_ = nullptr;
};

// A CSV file read back: column names and rows of numbers.
struct CsvTable {
  std::string path;
  std::vector<std::string> columns;
  std::vector<std::vector<double>> rows;

  Index num_rows() const { return static_cast<Index>(rows.size()); }
  bool has_column(const std::string& name) const { return index_of(name) >= 0; }

  // All values of one column, in row order.
  std::vector<double> column(const std::string& name) const {
    const Index c = index_of(name);
    if (c < 0)
      throw IoError("CsvTable: '" + path + "' has no column '" + name + "' (columns: " + detail::join_columns(columns) +
                    ")");
    std::vector<double> out;
    out.reserve(rows.size());
    for (const auto& r : rows) out.push_back(r[static_cast<std::size_t>(c)]);
    return out;
  }

 private:
  Index index_of(const std::string& name) const {
    for (std::size_t i = 0; i < columns.size(); ++i)
      if (columns[i] == name) return static_cast<Index>(i);
    return -1;
  }
};

// Reads a numeric CSV file with a header line. Blank lines are skipped; '\r\n' line ends
// are accepted. Throws IoError naming the line for a row with the wrong number of fields
// or a field that is not a number.
inline CsvTable read_csv(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    throw IoError("read_csv: cannot open '" + path + "': " + detail::errno_message(err));
  }
  CsvTable table;
  table.path = path;
  std::string line;
  Index line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<std::string> fields = detail::split_csv_line(line);
    if (table.columns.empty()) {
      table.columns = std::move(fields);
      continue;
    }
    if (fields.size() != table.columns.size())
      throw IoError("read_csv: '" + path + "' line " + std::to_string(line_no) + " has " +
                    std::to_string(fields.size()) + " fields, the header has " + std::to_string(table.columns.size()));
    std::vector<double> row(fields.size());
    for (std::size_t i = 0; i < fields.size(); ++i)
      if (!detail::parse_double(fields[i], row[i]))
        throw IoError("read_csv: '" + path + "' line " + std::to_string(line_no) + ", column '" + table.columns[i] +
                      "': '" + fields[i] + "' is not a number");
    table.rows.push_back(std::move(row));
  }
  if (table.columns.empty()) throw IoError("read_csv: '" + path + "' is empty (no header line)");
  return table;
}

}  // namespace vaegan
