#pragma once
// Exception types. Every error names what went wrong and, where it can, how to fix it.
#include <stdexcept>
#include <string>

namespace vaegan {

// Base class of everything the library throws.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Operand shapes do not fit an op; the message names the op and the shapes.
class ShapeError : public Error {
 public:
  explicit ShapeError(const std::string& what) : Error(what) {}
};

// A file could not be read or written, or its contents are invalid.
class IoError : public Error {
 public:
  explicit IoError(const std::string& what) : Error(what) {}
};

// A NaN or infinity appeared where a finite number is required.
class NumericError : public Error {
 public:
  explicit NumericError(const std::string& what) : Error(what) {}
};

namespace detail {
[[noreturn]] inline void throw_error(const std::string& what) { throw Error(what); }
}  // namespace detail

}  // namespace vaegan
