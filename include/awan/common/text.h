// Small text helpers shared by the parsers and the CLI: case folding, "did you mean" suggestions,
// number formatting. Pure functions; thread-safe.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace awan {

std::string ToLower(std::string_view s);
std::string ToUpper(std::string_view s);
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// Levenshtein distance, case-insensitive.
size_t EditDistance(std::string_view a, std::string_view b);

// The candidate closest to `word` if it is close enough to be a plausible typo (distance <= 1/3 of
// the longer word, at least 1), or a candidate that starts with `word` / contains it; nullopt
// otherwise.
std::optional<std::string> ClosestMatch(std::string_view word,
                                        std::span<const std::string> candidates);

// " (did you mean 'x'?)" or "".
std::string DidYouMean(std::string_view word, std::span<const std::string> candidates);

// "a, b, c (and 7 more)": at most `max_items` items.
std::string JoinLimited(std::span<const std::string> items, size_t max_items);

// Formats a price as dollars with 2 decimals below $1000 and thousands separators above
// ("1,234.56").
std::string FormatUsd(double usd);

// Parses a whole decimal number or one with a fraction; nullopt if `s` is not entirely a number.
std::optional<double> ParseNumber(std::string_view s);

// "30s", "10m", "2h", "1d", "1.5h" or plain seconds → seconds; nullopt if not a duration or
// negative.
std::optional<double> ParseDuration(std::string_view s);

// Where `text` stops being valid UTF-8 (the offset of the first bad byte), or nullopt when all of
// it is. Overlong forms, surrogates and code points past U+10FFFF are invalid.
std::optional<size_t> FindInvalidUtf8(std::string_view text);

// "SOURCE:LINE:COL: the file is not valid UTF-8 (byte 0xFF); ..." for the first bad byte of a
// file's text, or "" when it is valid.
std::string Utf8Error(std::string_view text, std::string_view source);

}  // namespace awan
