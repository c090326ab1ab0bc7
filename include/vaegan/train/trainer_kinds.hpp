#pragma once
// The library's trainers in one list. A checkpoint names its trainer by kind ("vaegan",
// "gan", "vae": each trainer's kKind); code that must build the trainer a file holds
// dispatches through with_trainer_kind instead of listing the kinds itself:
//
//   with_trainer_kind<float>(info.kind, [&](auto kind) {
//     using Trainer = typename decltype(kind)::type;
//     Trainer trainer(*info.config, {}, 1);
//     ...
//   });
//
// Adding a trainer means its header, one entry in TrainerKinds below, its tests and its
// part of docs/api.md. with_trainer_kind_in takes another list (tests use one with a
// test-only trainer).
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "vaegan/core/error.hpp"
#include "vaegan/train/gan_trainer.hpp"
#include "vaegan/train/vae_trainer.hpp"
#include "vaegan/train/vaegan_trainer.hpp"

namespace vaegan {

template <class T>
using TrainerKinds = std::tuple<VaeGanTrainer<T>, GanTrainer<T>, VaeTrainer<T>>;

// What with_trainer_kind hands its function: the trainer type, as `type`.
template <class Trainer>
struct TrainerKind {
  using type = Trainer;
};

// Whether a trainer has an encoder, so that encode() and reconstruct() compile for it.
template <class Trainer, class = void>
struct has_encoder : std::false_type {};
template <class Trainer>
struct has_encoder<Trainer, std::void_t<decltype(std::declval<Trainer&>().encoder())>> : std::true_type {};
template <class Trainer>
inline constexpr bool has_encoder_v = has_encoder<Trainer>::value;

// The kinds of a list, in its order: "vaegan", "gan", "vae".
template <class Kinds, std::size_t... I>
std::vector<std::string> trainer_kind_names_in(std::index_sequence<I...>) {
  return {std::tuple_element_t<I, Kinds>::kKind...};
}
template <class Kinds>
std::vector<std::string> trainer_kind_names_in() {
  return trainer_kind_names_in<Kinds>(std::make_index_sequence<std::tuple_size_v<Kinds>>{});
}
template <class T>
std::vector<std::string> trainer_kind_names() {
  return trainer_kind_names_in<TrainerKinds<T>>();
}

namespace detail {
template <class Kinds, std::size_t I, class F>
decltype(auto) dispatch_trainer_kind(const std::string& kind, F& f) {
  using Trainer = std::tuple_element_t<I, Kinds>;
  if constexpr (I + 1 == std::tuple_size_v<Kinds>) {
    if (kind != Trainer::kKind) {
      std::string known;
      for (const auto& name : trainer_kind_names_in<Kinds>()) known += (known.empty() ? "" : ", ") + name;
      throw IoError("unknown trainer kind '" + kind + "' (this vaegan knows " + known + ")");
    }
    return f(TrainerKind<Trainer>{});
  } else {
    if (kind == Trainer::kKind) return f(TrainerKind<Trainer>{});
    return dispatch_trainer_kind<Kinds, I + 1>(kind, f);
  }
}
}  // namespace detail

// Calls f(TrainerKind<Trainer>{}) for the trainer of `kind` in `Kinds` and returns what it
// returns (the same type for every trainer); an unknown kind throws IoError naming the
// known ones.
template <class Kinds, class F>
decltype(auto) with_trainer_kind_in(const std::string& kind, F&& f) {
  return detail::dispatch_trainer_kind<Kinds, 0>(kind, f);
}
template <class T, class F>
decltype(auto) with_trainer_kind(const std::string& kind, F&& f) {
  return with_trainer_kind_in<TrainerKinds<T>>(kind, f);
}

// Whether the trainer of `kind` has an encoder (throws for an unknown kind).
template <class T>
bool trainer_kind_has_encoder(const std::string& kind) {
  return with_trainer_kind<T>(kind, [](auto k) { return has_encoder_v<typename decltype(k)::type>; });
}

}  // namespace vaegan
