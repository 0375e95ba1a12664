// Safetensors reader (read-only mmap, header validated before any tensor is exposed) and writer.
#include "common/model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"

namespace dllm {
namespace {

// The Rust crate refuses headers above 100 MB; a real 8B checkpoint's header is ~30 KB.
constexpr uint64_t kMaxHeaderBytes = 100ull * 1000 * 1000;

struct DTypeEntry {
  TensorDType dtype;
  const char* name;
  size_t size;
};
constexpr DTypeEntry kDTypes[] = {
    {TensorDType::kF32, "F32", 4}, {TensorDType::kF16, "F16", 2},   {TensorDType::kBF16, "BF16", 2},
    {TensorDType::kI64, "I64", 8}, {TensorDType::kI32, "I32", 4},   {TensorDType::kI8, "I8", 1},
    {TensorDType::kU8, "U8", 1},   {TensorDType::kBool, "BOOL", 1}, {TensorDType::kF64, "F64", 8},
};

std::optional<TensorDType> dtype_from_name(absl::string_view name) {
  for (const DTypeEntry& e : kDTypes) {
    if (name == e.name) return e.dtype;
  }
  return std::nullopt;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

absl::Status corrupt(const std::string& path, absl::string_view what) {
  return absl::DataLossError(absl::StrCat(path, ": ", what));
}
absl::Status corrupt_tensor(const std::string& path, const std::string& name,
                            absl::string_view what) {
  return absl::DataLossError(absl::StrCat(path, ": tensor '", name, "': ", what));
}

// A JSON value for an error message; nested values are only named, never dumped.
std::string brief(const nlohmann::json& v) {
  if (v.is_array()) return "an array";
  if (v.is_object()) return "an object";
  std::string text = v.dump();
  if (text.size() > 64) text = text.substr(0, 64) + "...";
  return text;
}

// A JSON value as a non-negative integer that fits in uint64 (offsets, dims).
std::optional<uint64_t> as_size(const nlohmann::json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0)
    return static_cast<uint64_t>(v.get<int64_t>());
  return std::nullopt;
}

// Owns a file descriptor so every early return closes it.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Fills `info` from one header entry and checks it against the data area.
absl::Status parse_tensor_entry(const std::string& path, const std::string& name,
                                const nlohmann::json& entry, const uint8_t* data,
                                uint64_t data_size, TensorInfo* info) {
  if (!entry.is_object()) return corrupt_tensor(path, name, "header entry is not an object");
  auto dtype_it = entry.find("dtype");
  if (dtype_it == entry.end() || !dtype_it->is_string()) {
    return corrupt_tensor(path, name, "missing or non-string 'dtype'");
  }
  std::optional<TensorDType> dtype = dtype_from_name(dtype_it->get<std::string>());
  if (!dtype) {
    return corrupt_tensor(path, name,
                          absl::StrCat("unsupported dtype '", dtype_it->get<std::string>(), "'"));
  }
  auto shape_it = entry.find("shape");
  if (shape_it == entry.end() || !shape_it->is_array()) {
    return corrupt_tensor(path, name, "missing or non-array 'shape'");
  }
  uint64_t numel = 1;
  bool overflow = false;
  // TensorInfo::numel() multiplies the dims left to right in int64: every partial product
  // must fit there too, even when a later zero dim makes the tensor empty.
  bool numel_overflow = false;
  std::vector<int64_t> shape;
  for (const nlohmann::json& dim : *shape_it) {
    std::optional<uint64_t> n = as_size(dim);
    if (!n || *n > static_cast<uint64_t>(INT64_MAX)) {
      return corrupt_tensor(
          path, name, absl::StrCat("shape entry ", brief(dim), " is not a non-negative integer"));
    }
    overflow |= __builtin_mul_overflow(numel, *n, &numel);
    numel_overflow |= numel > static_cast<uint64_t>(INT64_MAX);
    shape.push_back(static_cast<int64_t>(*n));
  }
  if (numel_overflow && !overflow) {  // past 2^64 is reported below with the byte count
    return corrupt_tensor(
        path, name, absl::StrCat("shape ", shape_string(shape), " has more than 2^63 elements"));
  }
  auto offsets_it = entry.find("data_offsets");
  if (offsets_it == entry.end() || !offsets_it->is_array() || offsets_it->size() != 2) {
    return corrupt_tensor(path, name, "'data_offsets' must be an array of two integers");
  }
  std::optional<uint64_t> begin = as_size((*offsets_it)[0]);
  std::optional<uint64_t> end = as_size((*offsets_it)[1]);
  if (!begin || !end) {
    return corrupt_tensor(path, name,
                          absl::StrCat("data_offsets [", brief((*offsets_it)[0]), ", ",
                                       brief((*offsets_it)[1]), "] are not non-negative integers"));
  }
  if (*end < *begin) {
    return corrupt_tensor(
        path, name, absl::StrCat("data_offsets [", *begin, ", ", *end, "] end before they begin"));
  }
  if (*end > data_size) {
    return corrupt_tensor(
        path, name,
        absl::StrCat("data_offsets [", *begin, ", ", *end, "] reach past the data area of ",
                     data_size, " bytes (truncated file?)"));
  }
  uint64_t nbytes = 0;
  overflow |= __builtin_mul_overflow(numel, tensor_dtype_size(*dtype), &nbytes);
  if (overflow || nbytes != *end - *begin) {
    return corrupt_tensor(
        path, name,
        absl::StrCat("data_offsets span ", *end - *begin, " bytes but shape ", shape_string(shape),
                     " of ", tensor_dtype_name(*dtype), " needs ",
                     overflow ? "more than 2^64" : absl::StrCat(nbytes)));
  }
  info->name = name;
  info->dtype = *dtype;
  info->shape = std::move(shape);
  info->data = data + *begin;
  info->nbytes = static_cast<size_t>(nbytes);
  return absl::OkStatus();
}

}  // namespace

const char* tensor_dtype_name(TensorDType t) {
  for (const DTypeEntry& e : kDTypes) {
    if (e.dtype == t) return e.name;
  }
  return "?";
}

size_t tensor_dtype_size(TensorDType t) {
  for (const DTypeEntry& e : kDTypes) {
    if (e.dtype == t) return e.size;
  }
  return 0;
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::open(const std::string& path) {
  Fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (fd.fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot open"));
  struct stat st {};
  if (::fstat(fd.fd, &st) != 0) return absl::ErrnoToStatus(errno, absl::StrCat(path, ": stat"));
  if (!S_ISREG(st.st_mode)) return corrupt(path, "not a regular file");
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  if (file_size >= 8) {
    // PROT_READ + MAP_PRIVATE pages in lazily and never copies: a 16 GB checkpoint costs only
    // the pages a forward touches, and the mapping stays valid after the descriptor is closed.
    void* map = ::mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, fd.fd, 0);
    if (map == MAP_FAILED) return absl::ErrnoToStatus(errno, absl::StrCat(path, ": mmap"));
    file->map_ = map;
    file->map_size_ = file_size;
  }
  absl::Status s = file->index(static_cast<const uint8_t*>(file->map_), file_size);
  if (!s.ok()) return s;
  return file;
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::from_bytes(std::string name,
                                                                             std::string bytes) {
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = std::move(name);
  file->owned_bytes_ = std::move(bytes);
  const std::string& b = file->owned_bytes_;
  absl::Status s = file->index(reinterpret_cast<const uint8_t*>(b.data()), b.size());
  if (!s.ok()) return s;
  return file;
}

absl::Status SafetensorsFile::index(const uint8_t* bytes, uint64_t file_size) {
  const std::string& path = path_;
  if (file_size < 8) {
    return corrupt(path, absl::StrCat("file is ", file_size,
                                      " bytes, too short for the 8-byte header length"));
  }
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];  // little-endian
  if (header_len > kMaxHeaderBytes) {
    return corrupt(path, absl::StrCat("header length ", header_len,
                                      " exceeds the 100 MB limit (not a safetensors file?)"));
  }
  if (header_len > file_size - 8) {
    return corrupt(path, absl::StrCat("header length ", header_len, " exceeds the file size ",
                                      file_size, " (truncated file?)"));
  }
  const char* header_begin = reinterpret_cast<const char*>(bytes + 8);
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(header_begin, header_begin + header_len);
  } catch (const nlohmann::json::exception& e) {
    return corrupt(path, absl::StrCat("header JSON invalid: ", e.what()));
  }
  if (!header.is_object()) return corrupt(path, "header JSON is not an object");

  const uint8_t* data = bytes + 8 + header_len;
  const uint64_t data_size = file_size - 8 - header_len;
  struct Range {
    uint64_t begin, end;
    const std::string* name;
  };
  std::vector<Range> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) return corrupt(path, "__metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) {
          return corrupt(path,
                         absl::StrCat("__metadata__ value for '", m.key(), "' is not a string"));
        }
        metadata_[m.key()] = m->get<std::string>();
      }
      continue;
    }
    TensorInfo info;
    absl::Status s = parse_tensor_entry(path, it.key(), *it, data, data_size, &info);
    if (!s.ok()) return s;
    auto slot = tensors_.emplace(it.key(), std::move(info)).first;
    if (slot->second.nbytes > 0) {
      const uint64_t begin = static_cast<uint64_t>(slot->second.data - data);
      ranges.push_back({begin, begin + slot->second.nbytes, &slot->first});
    }
  }
  // Two tensors sharing bytes would alias silently; empty tensors occupy nothing.
  std::sort(ranges.begin(), ranges.end(),
            [](const Range& a, const Range& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < ranges.size(); ++i) {
    const Range& prev = ranges[i - 1];
    const Range& cur = ranges[i];
    if (cur.begin < prev.end) {
      return corrupt_tensor(path, *cur.name,
                            absl::StrCat("bytes [", cur.begin, ", ", cur.end, ") overlap tensor '",
                                         *prev.name, "' [", prev.begin, ", ", prev.end, ")"));
    }
  }
  return absl::OkStatus();
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) ::munmap(map_, map_size_);
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

absl::Status write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors) {
  // ordered_json keeps __metadata__ first and the tensors in the caller's order.
  nlohmann::ordered_json header;
  header["__metadata__"] = {{"format", "pt"}};
  std::set<std::string> names;
  std::vector<size_t> sizes;
  uint64_t offset = 0;
  for (const TensorToWrite& t : tensors) {
    const std::string where = absl::StrCat(path, ": tensor '", t.name, "': ");
    if (t.name.empty() || t.name == "__metadata__" || !names.insert(t.name).second) {
      return absl::InvalidArgumentError(absl::StrCat(where, "name is empty, reserved or repeated"));
    }
    uint64_t nbytes = tensor_dtype_size(t.dtype);
    for (int64_t d : t.shape) {
      if (d < 0 || __builtin_mul_overflow(nbytes, static_cast<uint64_t>(d), &nbytes)) {
        return absl::InvalidArgumentError(absl::StrCat(where, "bad shape ", shape_string(t.shape)));
      }
    }
    if (nbytes > 0 && t.data == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(where, "no data"));
    }
    header[t.name] = {{"dtype", tensor_dtype_name(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    sizes.push_back(static_cast<size_t>(nbytes));
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {  // e.g. a name that is not UTF-8
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot encode header: ", e.what()));
  }
  // Pad with spaces so the data area starts 8-byte aligned, as the reference writer does.
  text.append((8 - text.size() % 8) % 8, ' ');
  uint8_t len_bytes[8];
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<uint8_t>(text.size() >> (8 * i));

  // Write beside the target and rename, so readers never see a half-written file.
  const std::string tmp = absl::StrCat(path, ".tmp.", ::getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) return absl::ErrnoToStatus(errno, absl::StrCat(tmp, ": cannot create"));
  bool ok = std::fwrite(len_bytes, 1, 8, f) == 8 &&
            std::fwrite(text.data(), 1, text.size(), f) == text.size();
  for (size_t i = 0; ok && i < tensors.size(); ++i) {
    if (sizes[i] > 0) ok = std::fwrite(tensors[i].data, 1, sizes[i], f) == sizes[i];
  }
  const int write_errno = errno;
  if (std::fclose(f) != 0) ok = false;
  if (!ok) {
    std::remove(tmp.c_str());
    return absl::ErrnoToStatus(write_errno, absl::StrCat(tmp, ": write failed"));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    return absl::ErrnoToStatus(e, absl::StrCat(path, ": cannot rename from ", tmp));
  }
  return absl::OkStatus();
}

}  // namespace dllm
