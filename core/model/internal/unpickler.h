#pragma once

// A restricted unpickler for the data.pkl of a torch.save checkpoint: it builds values only, for
// the handful of opcodes and globals a state dict needs, and refuses everything else (never
// executes anything). Internal to tscore_model and its tests (torch-typed: storages carry an
// at::ScalarType).

#include "core/common/result.h"

#include <c10/core/ScalarType.h>

#include <QByteArray>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ts::internal {

// The globals a state dict may name (GLOBAL / STACK_GLOBAL) and call (REDUCE).
enum class PickleCallable : uint8_t {
    None,
    OrderedDict,
    RebuildTensorV2,
    RebuildTensor,
    RebuildParameter,
    StorageType
};

struct PickleValue;

struct PickledTensor {
    const PickleValue *storage = nullptr;
    int64_t offset = 0;
    std::vector<int64_t> sizes;
    std::vector<int64_t> strides;
};

struct PickleDict {
    std::vector<std::pair<PickleValue *, PickleValue *>> entries; // in insertion order
    // String keys -> entries index. The views point into the key values' strings, which live
    // (unchanged) in the arena: a memoised key used by many dicts is never copied.
    std::unordered_map<std::string_view, size_t> keyIndex;
};

// Kept small (one per pickle value): dict and tensor parts live behind pointers.
struct PickleValue {
    enum class Kind : uint8_t {
        None,
        Bool,
        Int,
        Float,
        String,
        Tuple,
        List,
        Dict,
        Global,
        Storage,
        Tensor
    };
    Kind kind = Kind::None;
    PickleCallable callable = PickleCallable::None; // Global
    at::ScalarType dtype = at::kFloat;              // Global (StorageType), Storage
    int64_t i = 0;                                  // Bool, Int
    int64_t numel = 0;                              // Storage: elements declared by the pickle
    double f = 0;
    std::string s;                         // String; Storage: record key
    std::vector<PickleValue *> items;      // Tuple, List
    std::unique_ptr<PickleDict> dict;      // Dict
    std::unique_ptr<PickledTensor> tensor; // Tensor
};

// "dict", "tensor", ... for messages.
const char *pickleKindName(PickleValue::Kind kind);

// Runs one pickle. Values live in an arena owned by the Unpickler and refer to each other by
// pointer, so hostile pickles (cycles through the memo, deep nesting) cannot leak or recurse on
// destruction.
//
// Limits: every value, container slot, dict key, memo entry and stack slot counts against a
// memory budget of 16 MiB + 32 bytes per pickle byte (a real state dict needs ~10 bytes per pickle
// byte); a pickle built to amplify memory stops with an error instead.
//
// Accepted: protocols 2..5, containers, ints, floats, strings, the memo, persistent ids of the
// form ('storage', torch.<X>Storage, key, location, numel) and the globals
// collections.OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_tensor / _rebuild_parameter
// and torch.<X>Storage. Not thread-safe; one pickle per Unpickler.
class Unpickler {
public:
    explicit Unpickler(const QByteArray &pickle);
    ~Unpickler();
    Unpickler(const Unpickler &) = delete;
    Unpickler &operator=(const Unpickler &) = delete;

    // The value the pickle leaves at STOP; it and every value it refers to live as long as this
    // Unpickler. Fails with Format (malformed or truncated pickle, memory budget exceeded) or
    // Unsupported (a refused opcode, global, call or protocol); the message names the pickle offset
    // but not the file (the caller adds it). May throw std::bad_alloc only.
    Result<const PickleValue *> run();

private:
    class Machine;
    std::unique_ptr<Machine> m_machine;
};

} // namespace ts::internal
