// digest.cpp: digest validation and sha256 through OpenSSL's EVP interface.
#include "berth/image/digest.hpp"

#include "util.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <new>
#include <stdexcept>

namespace berth::image {

namespace {

bool is_lower_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

// The distribution grammar of a digest, used only to tell "another algorithm" from "garbage":
// algorithm = [a-z0-9]+ ([+._-] [a-z0-9]+)*, encoded = [a-zA-Z0-9=_-]+.
bool looks_like_other_digest(std::string_view text) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 >= text.size()) return false;
  auto algorithm = text.substr(0, colon);
  bool after_separator = true;
  for (char c : algorithm) {
    bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    bool separator = c == '+' || c == '.' || c == '_' || c == '-';
    if (alnum)
      after_separator = false;
    else if (separator && !after_separator)
      after_separator = true;
    else
      return false;
  }
  if (after_separator) return false;
  for (char c : text.substr(colon + 1)) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '=' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

bool is_digest(std::string_view text) {
  if (text.size() != digest_length || text.substr(0, 7) != "sha256:") return false;
  for (char c : text.substr(7))
    if (!is_lower_hex(c)) return false;
  return true;
}

caf::expected<void> check_digest(std::string_view text) {
  if (is_digest(text)) return {};
  if (text.substr(0, 7) == "sha256:")
    return detail::invalid("invalid digest '{}': sha256 needs 64 lowercase hex digits",
                           text.substr(0, 100));
  if (looks_like_other_digest(text))
    return make_error(errc::unsupported,
                      fmt::format("unsupported digest algorithm '{}': only sha256 is supported",
                                  text.substr(0, text.find(':')).substr(0, 32)));
  return detail::invalid("invalid digest '{}': expected sha256:<64 hex digits>",
                         text.substr(0, 100));
}

std::string_view digest_hex(std::string_view digest) {
  return digest.substr(7);
}

sha256::sha256() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr) throw std::bad_alloc{};
  if (EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("EVP_DigestInit_ex(sha256) failed");
}

sha256::~sha256() {
  if (ctx_ != nullptr) EVP_MD_CTX_free(ctx_);
}

sha256::sha256(sha256&& other) noexcept : ctx_(other.ctx_) {
  other.ctx_ = nullptr;
}

sha256& sha256::operator=(sha256&& other) noexcept {
  if (this != &other) {
    if (ctx_ != nullptr) EVP_MD_CTX_free(ctx_);
    ctx_ = other.ctx_;
    other.ctx_ = nullptr;
  }
  return *this;
}

void sha256::update(const void* data, size_t size) {
  if (size == 0) return;
  if (EVP_DigestUpdate(ctx_, data, size) != 1) throw std::runtime_error("EVP_DigestUpdate failed");
}

std::string sha256::finish() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_, md, &len) != 1 || len != 32)
    throw std::runtime_error("EVP_DigestFinal_ex failed");
  if (EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("EVP_DigestInit_ex(sha256) failed");
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "sha256:";
  out.reserve(digest_length);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(hex[md[i] >> 4]);
    out.push_back(hex[md[i] & 0xf]);
  }
  return out;
}

std::string sha256_of(std::string_view bytes) {
  sha256 h;
  h.update(bytes);
  return h.finish();
}

caf::expected<digest_and_size> sha256_of_fd(int fd) {
  sha256 h;
  uint64_t size = 0;
  std::string buf(256 * 1024, '\0');
  for (;;) {
    auto n = detail::read_some(fd, buf.data(), buf.size());
    if (n < 0)
      return make_error(errc::io, fmt::format("read failed: {}", detail::error_text(errno)));
    if (n == 0) break;
    h.update(buf.data(), static_cast<size_t>(n));
    size += static_cast<uint64_t>(n);
  }
  return digest_and_size{h.finish(), size};
}

caf::expected<digest_and_size> sha256_of_file(const std::filesystem::path& path) {
  detail::unique_fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (!fd) return detail::io_error("cannot open", path, errno);
  auto result = sha256_of_fd(fd.get());
  if (!result) return detail::with_context(result.error(), path.string());
  return result;
}

}  // namespace berth::image
