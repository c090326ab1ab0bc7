#pragma once
// Composing vaegan::fit()'s callbacks from small handlers, each with one job (the way
// ensmallen composes its callbacks): chain_epoch(a, b, c) is one on_epoch that calls a, b
// and c in that order. A handler returns void, or bool (false: stop training after this
// epoch); every handler of the chain runs either way, and training stops if any said so.
#include <functional>
#include <type_traits>

#include <vaegan/train/fit.hpp>

namespace examples {

using EpochHandler = std::function<bool(const vaegan::EpochEvent&)>;

namespace detail {
template <class Handler>
bool call_epoch_handler(Handler& handler, const vaegan::EpochEvent& e) {
  if constexpr (std::is_void_v<std::invoke_result_t<Handler&, const vaegan::EpochEvent&>>) {
    handler(e);
    return true;
  } else {
    return static_cast<bool>(handler(e));
  }
}
}  // namespace detail

template <class... Handlers>
EpochHandler chain_epoch(Handlers... handlers) {
  return [handlers...](const vaegan::EpochEvent& e) mutable {
    bool keep_going = true;
    ((keep_going = detail::call_epoch_handler(handlers, e) && keep_going), ...);
    return keep_going;
  };
}

}  // namespace examples
