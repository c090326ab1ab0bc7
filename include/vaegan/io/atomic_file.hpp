#pragma once
// AtomicFile: replace a file so that nobody ever sees it half written.
//
// The bytes go to "<path>.tmp.<pid>.<n>" in the target's own directory (rename is only
// atomic within one file system). commit() flushes the stream, fsyncs the file, renames
// it over <path> and fsyncs the directory, so after a crash at any moment <path> holds
// either the complete old contents or the complete new ones. If the object is destroyed
// without commit() (an exception, a failed write), the temporary file is removed and
// <path> is untouched.
//
// A process killed by a signal cannot run the cleanup; such a ".tmp.<pid>.<n>" file is
// garbage and can be deleted. Nothing here deletes temporaries of other processes,
// because a live writer may own them.
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#if defined(_WIN32)
#include <io.h>
#include <process.h>
#else
#include <fcntl.h>
#include <unistd.h>
#endif

#include "vaegan/core/error.hpp"

namespace vaegan {
namespace detail {

inline std::string errno_message(int err) { return std::generic_category().message(err); }

inline long current_pid() {
#if defined(_WIN32)
  return static_cast<long>(_getpid());
#else
  return static_cast<long>(getpid());
#endif
}

// Unique within the process: two threads writing the same path get different temporaries.
inline std::string temp_path_for(const std::string& path) {
  static std::atomic<std::uint64_t> counter{0};
  return path + ".tmp." + std::to_string(current_pid()) + "." + std::to_string(counter.fetch_add(1));
}

inline std::string parent_directory(const std::string& path) {
  const std::filesystem::path p(path);
  const std::filesystem::path dir = p.parent_path();
  return dir.empty() ? std::string(".") : dir.string();
}

class AtomicFile {
 public:
  // `who` names the caller in error messages, e.g. "write_png" or "CheckpointWriter::save".
  AtomicFile(std::string path, std::string who)
      : path_(std::move(path)), who_(std::move(who)), temp_(temp_path_for(path_)) {
    if (path_.empty()) throw IoError(who_ + ": empty output path");
    file_ = std::fopen(temp_.c_str(), "wb");
    if (!file_) {
      const int err = errno;
      throw IoError(who_ + ": cannot write '" + path_ + "': creating the temporary file '" + temp_ +
                    "' failed: " + errno_message(err) +
                    " (check that the directory exists and is writable; create it first if needed)");
    }
  }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile() { abort(); }

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_; }
  std::uint64_t size() const { return size_; }

  // Appends n bytes at the current position.
  void write(const void* data, std::size_t n) {
    if (n == 0) return;
    require_open("write");
    if (std::fwrite(data, 1, n, file_) != n) fail("writing", errno);
    position_ += n;
    if (position_ > size_) size_ = position_;
  }
  void write(const std::vector<std::uint8_t>& bytes) { write(bytes.data(), bytes.size()); }

  // Moves the write position (used to fill in a header once the rest is known).
  void seek(std::uint64_t offset) {
    require_open("seek");
    if (offset > size_) throw IoError(who_ + ": internal error: seek past the end of '" + temp_ + "'");
    if (std::fflush(file_) != 0) fail("flushing", errno);
#if defined(_WIN32)
    const int rc = _fseeki64(file_, static_cast<long long>(offset), SEEK_SET);
#else
    const int rc = fseeko(file_, static_cast<off_t>(offset), SEEK_SET);
#endif
    if (rc != 0) fail("seeking in", errno);
    position_ = offset;
  }

  // Makes the new contents durable and visible under path(). After commit() the object
  // is closed; further writes throw.
  void commit() {
    require_open("commit");
    if (std::fflush(file_) != 0) fail("flushing", errno);
#if defined(_WIN32)
    if (_commit(_fileno(file_)) != 0) fail("syncing", errno);
#else
    if (fsync(fileno(file_)) != 0) fail("syncing", errno);
#endif
    std::FILE* f = file_;
    file_ = nullptr;
    if (std::fclose(f) != 0) {
      const int err = errno;
      std::remove(temp_.c_str());
      throw_io("closing", err);
    }
    // std::filesystem::rename replaces an existing target atomically on POSIX (rename(2))
    // and on Windows (MoveFileExW with MOVEFILE_REPLACE_EXISTING).
    std::error_code ec;
    std::filesystem::rename(temp_, path_, ec);
    if (ec) {
      std::remove(temp_.c_str());
      throw IoError(who_ + ": cannot write '" + path_ + "': renaming the temporary file '" + temp_ +
                    "' over it failed: " + ec.message() + " (is '" + path_ + "' a directory or on a read-only mount?)");
    }
    committed_ = true;
    sync_directory();
  }

  // Closes and deletes the temporary file; path() is left as it was. Never throws.
  void abort() noexcept {
    if (file_) {
      std::fclose(file_);
      file_ = nullptr;
    }
    if (!committed_ && !removed_) {
      std::remove(temp_.c_str());
      removed_ = true;
    }
  }

 private:
  void require_open(const char* op) const {
    if (!file_) throw IoError(who_ + ": internal error: " + op + " on the closed temporary file for '" + path_ + "'");
  }
  [[noreturn]] void throw_io(const char* doing, int err) const {
    throw IoError(who_ + ": cannot write '" + path_ + "': " + doing + " the temporary file '" + temp_ +
                  "' failed: " + errno_message(err) + " (is the disk full or the directory read-only?)");
  }
  [[noreturn]] void fail(const char* doing, int err) {
    abort();
    throw_io(doing, err);
  }
  // The rename is durable only once the directory entry is on disk. Failing here does not
  // lose data (the file is complete and in place), so errors are ignored.
  void sync_directory() const noexcept {
#if !defined(_WIN32)
    const int fd = ::open(parent_directory(path_).c_str(), O_RDONLY);
    if (fd >= 0) {
      (void)fsync(fd);
      (void)::close(fd);
    }
#endif
  }

  std::string path_;
  std::string who_;
  std::string temp_;
  std::FILE* file_ = nullptr;
  std::uint64_t position_ = 0;
  std::uint64_t size_ = 0;
  bool committed_ = false;
  bool removed_ = false;
};

// Writes a whole buffer to `path` through an AtomicFile.
inline void write_file_atomically(const std::string& path, const void* data, std::size_t n, const std::string& who) {
  AtomicFile file(path, who);
  file.write(data, n);
  file.commit();
}

}  // namespace detail
}  // namespace vaegan
