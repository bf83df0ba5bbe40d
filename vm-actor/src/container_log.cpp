// container_log.cpp: encoding, reading and tailing container logs.
#include "container_log.hpp"

#include "berth/os/file.hpp"
#include "berth/rpc/codec.hpp"

#include <algorithm>

namespace berth::vm {

namespace fs = std::filesystem;

std::string encode_log_record(int64_t time, uint8_t fd, const std::vector<char>& data) {
  rpc::byte_buffer buf;
  msgpack::packer<rpc::byte_buffer> pk(buf);
  pk.pack_array(3);
  pk.pack_int64(time);
  pk.pack_uint8(fd);
  pk.pack_bin(static_cast<uint32_t>(data.size()));
  pk.pack_bin_body(data.data(), static_cast<uint32_t>(data.size()));
  return std::move(buf.data);
}

std::vector<log_record> decode_log(const std::string& bytes) {
  std::vector<log_record> out;
  std::size_t off = 0;
  while (off < bytes.size()) {
    msgpack::object_handle oh;
    try {
      msgpack::unpack(oh, bytes.data(), bytes.size(), off, nullptr, nullptr,
                      msgpack::unpack_limit(3, 0, 0, 8u << 20, 0, 2));
      auto o = oh.get();
      if (o.type != msgpack::type::ARRAY || o.via.array.size != 3) break;
      log_record r;
      r.time = o.via.array.ptr[0].as<int64_t>();
      r.fd = o.via.array.ptr[1].as<uint8_t>();
      r.data = o.via.array.ptr[2].as<std::vector<char>>();
      out.push_back(std::move(r));
    } catch (const std::exception&) {
      break;
    }
  }
  return out;
}

std::vector<log_record> read_log(const fs::path& dir, uint64_t limit) {
  std::vector<log_record> out;
  auto read = [](const fs::path& p, uint64_t max) -> std::string {
    try {
      auto text = os::read_file(p, 1u << 30);
      if (text.size() > max) text.resize(max);
      return text;
    } catch (const std::system_error&) {
      return {};
    }
  };
  out = decode_log(read(dir / "container.log.1", UINT64_MAX));
  auto current = decode_log(read(dir / "container.log", limit));
  out.insert(out.end(), std::make_move_iterator(current.begin()),
             std::make_move_iterator(current.end()));
  return out;
}

std::vector<log_record> tail_lines(const std::vector<log_record>& records, int64_t lines) {
  if (lines < 0) return records;
  // Split into lines (a line keeps its newline), then keep the last ones.
  std::vector<log_record> pieces;
  for (auto& r : records) {
    std::size_t start = 0;
    while (start < r.data.size()) {
      auto nl = std::find(r.data.begin() + static_cast<long>(start), r.data.end(), '\n');
      auto end = static_cast<std::size_t>(nl - r.data.begin()) + (nl == r.data.end() ? 0 : 1);
      log_record piece{
          r.time,
          r.fd,
          {r.data.begin() + static_cast<long>(start), r.data.begin() + static_cast<long>(end)}};
      // A piece without a newline continues on the next record of the same stream.
      if (!pieces.empty() && pieces.back().fd == r.fd && !pieces.back().data.empty() &&
          pieces.back().data.back() != '\n' && start == 0)
        pieces.back().data.insert(pieces.back().data.end(), piece.data.begin(), piece.data.end());
      else
        pieces.push_back(std::move(piece));
      start = end;
    }
  }
  if (static_cast<int64_t>(pieces.size()) > lines)
    pieces.erase(pieces.begin(), pieces.end() - lines);
  return pieces;
}

}  // namespace berth::vm
