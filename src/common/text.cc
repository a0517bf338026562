#include "awan/common/text.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

namespace awan {

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string ToUpper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

size_t EditDistance(std::string_view a, std::string_view b) {
  // Optimal string alignment: insertions, deletions, substitutions and adjacent transpositions
  // ("nmae" → "name" is one edit), which is what typos look like.
  const std::string la = ToLower(a), lb = ToLower(b);
  const size_t n = la.size(), m = lb.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      const size_t cost = la[i - 1] == lb[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && la[i - 1] == lb[j - 2] && la[i - 2] == lb[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

std::optional<std::string> ClosestMatch(std::string_view word,
                                        std::span<const std::string> candidates) {
  if (word.empty()) return std::nullopt;
  const std::string* best = nullptr;
  size_t best_distance = 0;
  bool best_prefixed = false;
  const std::string lower_word = ToLower(word);
  for (const std::string& c : candidates) {
    const size_t d = EditDistance(word, c);
    // On a tie, a candidate that starts with the word wins ("H10" → "H100", not "A10").
    const bool prefixed = ToLower(c).rfind(lower_word, 0) == 0;
    if (best == nullptr || d < best_distance ||
        (d == best_distance && prefixed && !best_prefixed)) {
      best = &c;
      best_distance = d;
      best_prefixed = prefixed;
    }
  }
  if (best != nullptr) {
    size_t longer = std::max(word.size(), best->size());
    if (best_distance <= std::max<size_t>(1, longer / 3)) return *best;
  }
  for (const std::string& c : candidates) {
    if (ToLower(c).find(lower_word) != std::string::npos) return c;
  }
  return std::nullopt;
}

std::string DidYouMean(std::string_view word, std::span<const std::string> candidates) {
  auto match = ClosestMatch(word, candidates);
  if (!match || *match == word) return "";
  return fmt::format(" (did you mean '{}'?)", *match);
}

std::string JoinLimited(std::span<const std::string> items, size_t max_items) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < max_items; ++i) {
    if (i > 0) out += ", ";
    out += items[i];
  }
  if (items.size() > max_items) out += fmt::format(" (and {} more)", items.size() - max_items);
  return out;
}

std::string FormatUsd(double usd) {
  const std::string digits = fmt::format("{:.2f}", usd < 0 ? -usd : usd);
  const size_t int_len = digits.find('.');
  std::string out = usd < 0 ? "-" : "";
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && i < int_len && (int_len - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::optional<double> ParseNumber(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  if (s.empty()) return std::nullopt;
  if (s.front() == '+') s.remove_prefix(1);
  double value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(value)) return std::nullopt;
  return value;
}

std::optional<double> ParseDuration(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  if (s.empty()) return std::nullopt;
  double unit = 1;
  switch (s.back()) {
    case 's':
      unit = 1;
      s.remove_suffix(1);
      break;
    case 'm':
      unit = 60;
      s.remove_suffix(1);
      break;
    case 'h':
      unit = 3600;
      s.remove_suffix(1);
      break;
    case 'd':
      unit = 86400;
      s.remove_suffix(1);
      break;
    default:
      break;
  }
  auto v = ParseNumber(s);
  if (!v || *v < 0) return std::nullopt;
  return *v * unit;
}

std::optional<size_t> FindInvalidUtf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  for (size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    uint32_t cp = 0, min = 0;
    if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return i;
    }
    if (i + len > n) return i;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return std::nullopt;
}

std::string Utf8Error(std::string_view text, std::string_view source) {
  const std::optional<size_t> bad = FindInvalidUtf8(text);
  if (!bad) return "";
  size_t line = 1, column = 1;
  for (size_t i = 0; i < *bad; ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      ++column;
    }
  }
  return fmt::format(
      "{}:{}:{}: the file is not valid UTF-8 (byte 0x{:02X}); save it as UTF-8 (e.g. iconv -f "
      "latin1 -t utf-8)",
      source, line, column, static_cast<unsigned char>(text[*bad]));
}

}  // namespace awan
