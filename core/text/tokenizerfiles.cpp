#include "core/text/tokenizerfiles.h"

#include "core/common/jsonfile.h"

#include "core/text/unicodeclasses.h"
#include "core/text/utf8.h"

#include <nlohmann/json.hpp>

#include <QDir>
#include <QFile>

namespace ts {

namespace {

using Json = nlohmann::json;

constexpr int64_t kMaxTokenId = (int64_t(1) << 31) - 1;

// vocab.json and tokenizer.json may be large (a multilingual vocabulary); the configs are small.
Result<Json> readJson(const QString &path, qint64 maxBytes,
                      std::vector<std::string> *topLevelKeys = nullptr) {
    return readJsonFile(path, maxBytes, kMaxJsonDepth, topLevelKeys);
}

Error formatError(const QString &path, const QString &what) {
    return Error(Error::Code::Format, QStringLiteral("%1: %2").arg(path, what));
}

QString q(const std::string &s) {
    return QString::fromStdString(s);
}

// `order`: the keys in file order when known (HF's id -> token map keeps the last token per id).
Result<std::vector<std::pair<std::string, int64_t>>>
parseVocab(const Json &json, const QString &path, const QString &where,
           const std::vector<std::string> *order = nullptr) {
    if (!json.is_object())
        return formatError(
            path, QStringLiteral("%1 must be a JSON object mapping tokens to ids").arg(where));
    if (json.empty())
        return formatError(path, QStringLiteral("%1 is empty").arg(where));
    std::vector<std::pair<std::string, int64_t>> vocab;
    vocab.reserve(json.size());
    auto add = [&](const std::string &token, const Json &id) -> Status {
        if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > kMaxTokenId)
            return formatError(
                path, QStringLiteral("%1: the id of token \"%2\" is not an integer in 0..%3")
                          .arg(where, q(token))
                          .arg(kMaxTokenId));
        vocab.emplace_back(token, id.get<int64_t>());
        return Status::success();
    };
    if (order) {
        for (const std::string &token : *order)
            if (Status s = add(token, json.at(token)); !s)
                return s.error();
    } else {
        for (const auto &[token, id] : json.items())
            if (Status s = add(token, id); !s)
                return s.error();
    }
    return vocab;
}

// Python's str.split() with no argument: runs of whitespace separate, no empty parts.
std::vector<std::string> splitOnWhitespace(std::string_view utf8) {
    std::vector<std::string> parts;
    std::u32string current;
    for (const char32_t c : Utf8::decodeLossy(utf8)) {
        if (UnicodeClasses::isPythonSpace(c)) {
            if (!current.empty())
                parts.push_back(Utf8::encode(current));
            current.clear();
        } else {
            current += c;
        }
    }
    if (!current.empty())
        parts.push_back(Utf8::encode(current));
    return parts;
}

Result<std::vector<std::pair<std::string, std::string>>> readMerges(const QString &path) {
    auto bytes = readFileBytes(path, kMaxTokenizerFileBytes);
    if (!bytes)
        return bytes.error();
    // Python's text mode turns \r\n and \r into \n before HF splits on "\n".
    QByteArray text = *bytes;
    text.replace("\r\n", "\n");
    text.replace('\r', '\n');
    const QList<QByteArray> lines = text.split('\n');
    std::vector<std::pair<std::string, std::string>> merges;
    merges.reserve(size_t(lines.size()));
    // HF reads split("\n")[1:-1]: the first line is always the "#version" header, and the text
    // after the last newline is dropped (so a last line without a newline is ignored, as in HF).
    for (qsizetype i = 1; i + 1 < lines.size(); ++i) {
        const std::string_view line(lines[i].constData(), size_t(lines[i].size()));
        if (!Utf8::isValid(line))
            return formatError(path, QStringLiteral("line %1 is not valid UTF-8").arg(i + 1));
        std::vector<std::string> parts = splitOnWhitespace(line);
        if (parts.empty())
            continue; // HF keeps an empty tuple, which never matches: same as skipping
        if (parts.size() != 2)
            return formatError(
                path, QStringLiteral("line %1: expected two symbols separated by a space, found %2")
                          .arg(i + 1)
                          .arg(parts.size()));
        merges.emplace_back(std::move(parts[0]), std::move(parts[1]));
    }
    return merges;
}

Result<std::vector<std::pair<std::string, std::string>>> parseJsonMerges(const Json &json,
                                                                         const QString &path) {
    if (!json.is_array())
        return formatError(path, QStringLiteral("model.merges must be an array"));
    std::vector<std::pair<std::string, std::string>> merges;
    merges.reserve(json.size());
    size_t index = 0;
    for (const Json &m : json) {
        // Two forms exist: "a b" (older files) and ["a", "b"] (tokenizers >= 0.20).
        if (m.is_string()) {
            const std::string s = m.get<std::string>();
            const size_t space = s.find(' ');
            if (space == std::string::npos || space == 0 || space + 1 >= s.size() ||
                s.find(' ', space + 1) != std::string::npos)
                return formatError(
                    path, QStringLiteral("model.merges[%1]: expected \"left right\", found \"%2\"")
                              .arg(index)
                              .arg(q(s)));
            merges.emplace_back(s.substr(0, space), s.substr(space + 1));
        } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
            merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
        } else {
            return formatError(
                path, QStringLiteral("model.merges[%1] is neither \"left right\" nor [left, right]")
                          .arg(index));
        }
        ++index;
    }
    return merges;
}

bool boolOr(const Json &obj, const char *key, bool fallback) {
    const auto it = obj.find(key);
    return it != obj.end() && it->is_boolean() ? it->get<bool>() : fallback;
}

// A token given as "text" or {"content": "text", "lstrip": ..., ...}.
Result<NamedTokenSpec> parseTokenValue(const Json &v, const QString &path, const QString &key) {
    NamedTokenSpec spec;
    if (v.is_string()) {
        spec.content = v.get<std::string>();
        return spec;
    }
    if (v.is_object() && v.contains("content") && v["content"].is_string()) {
        spec.content = v["content"].get<std::string>();
        if (v.contains("lstrip") && v["lstrip"].is_boolean())
            spec.lstrip = v["lstrip"].get<bool>();
        if (v.contains("rstrip") && v["rstrip"].is_boolean())
            spec.rstrip = v["rstrip"].get<bool>();
        return spec;
    }
    return formatError(
        path,
        QStringLiteral("\"%1\" must be a string or an object with a \"content\" string").arg(key));
}

const char *const kRoles[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                              "pad_token", "cls_token", "mask_token"};

// Named tokens and additional_special_tokens of tokenizer_config.json or special_tokens_map.json.
Status applySpecialTokens(const Json &json, const QString &path, TokenizerFiles &files) {
    for (const char *role : kRoles) {
        const auto it = json.find(role);
        if (it == json.end())
            continue;
        if (it->is_null()) {
            files.namedTokens[role] = std::nullopt;
            continue;
        }
        auto spec = parseTokenValue(*it, path, QString::fromLatin1(role));
        if (!spec)
            return spec.error();
        files.namedTokens[role] = *spec;
    }
    if (const auto it = json.find("additional_special_tokens");
        it != json.end() && !it->is_null()) {
        if (!it->is_array())
            return formatError(path,
                               QStringLiteral("\"additional_special_tokens\" must be a list"));
        files.additionalSpecialTokens.clear();
        for (const Json &v : *it) {
            auto spec = parseTokenValue(v, path, QStringLiteral("additional_special_tokens"));
            if (!spec)
                return spec.error();
            files.additionalSpecialTokens.push_back(*spec);
        }
    }
    return Status::success();
}

Result<AddedTokenSpec> parseAddedToken(const Json &v, int64_t id, const QString &path,
                                       const QString &where) {
    if (!v.is_object() || !v.contains("content") || !v["content"].is_string())
        return formatError(
            path, QStringLiteral("%1 must be an object with a \"content\" string").arg(where));
    if (id < 0 || id > kMaxTokenId)
        return formatError(path, QStringLiteral("%1: id %2 is out of range").arg(where).arg(id));
    AddedTokenSpec t;
    t.content = v["content"].get<std::string>();
    t.id = id;
    t.lstrip = boolOr(v, "lstrip", false);
    t.rstrip = boolOr(v, "rstrip", false);
    t.special = boolOr(v, "special", false);
    if (t.content.empty())
        return formatError(path, QStringLiteral("%1 has empty content").arg(where));
    return t;
}

Status readConfig(const QString &path, TokenizerFiles &files) {
    auto json = readJson(path, kMaxConfigJsonBytes);
    if (!json)
        return json.error();
    const Json &cfg = *json;
    if (!cfg.is_object())
        return formatError(path, QStringLiteral("must be a JSON object"));
    if (const auto it = cfg.find("added_tokens_decoder"); it != cfg.end() && !it->is_null()) {
        if (!it->is_object())
            return formatError(path, QStringLiteral("\"added_tokens_decoder\" must be an object"));
        for (const auto &[key, value] : it->items()) {
            bool ok = false;
            const qlonglong id = q(key).toLongLong(&ok);
            if (!ok)
                return formatError(
                    path,
                    QStringLiteral("added_tokens_decoder key \"%1\" is not an id").arg(q(key)));
            auto token = parseAddedToken(
                value, id, path, QStringLiteral("added_tokens_decoder[\"%1\"]").arg(q(key)));
            if (!token)
                return token.error();
            files.addedTokens.push_back(*token);
        }
    }
    if (Status s = applySpecialTokens(cfg, path, files); !s)
        return s;
    if (const auto it = cfg.find("model_max_length"); it != cfg.end() && it->is_number())
        files.modelMaxLength = it->get<double>();
    files.cleanUpTokenizationSpaces = boolOr(cfg, "clean_up_tokenization_spaces", false);
    files.addPrefixSpace = boolOr(cfg, "add_prefix_space", false);
    return Status::success();
}

Status readTokenizerJson(const QString &path, TokenizerFiles &files) {
    auto json = readJson(path, kMaxTokenizerFileBytes);
    if (!json)
        return json.error();
    const Json &root = *json;
    if (!root.is_object() || !root.contains("model") || !root["model"].is_object())
        return formatError(path, QStringLiteral("has no \"model\" object"));
    const Json &model = root["model"];
    if (model.contains("type") && model["type"] != "BPE")
        return Error(Error::Code::Unsupported,
                     QStringLiteral("%1: model type %2 is not supported (only byte-level BPE)")
                         .arg(path, q(model["type"].dump())));
    if (!model.contains("vocab") || !model.contains("merges"))
        return formatError(path, QStringLiteral("model has no \"vocab\" or no \"merges\""));
    auto vocab = parseVocab(model["vocab"], path, QStringLiteral("model.vocab"));
    if (!vocab)
        return vocab.error();
    files.vocab = std::move(*vocab);
    auto merges = parseJsonMerges(model["merges"], path);
    if (!merges)
        return merges.error();
    files.merges = std::move(*merges);
    if (const auto it = root.find("added_tokens"); it != root.end() && it->is_array()) {
        size_t index = 0;
        for (const Json &v : *it) {
            const QString where = QStringLiteral("added_tokens[%1]").arg(index++);
            if (!v.is_object() || !v.contains("id") || !v["id"].is_number_integer())
                return formatError(path, QStringLiteral("%1 has no integer \"id\"").arg(where));
            auto token = parseAddedToken(v, v["id"].get<int64_t>(), path, where);
            if (!token)
                return token.error();
            files.addedTokens.push_back(*token);
        }
    }
    return Status::success();
}

} // namespace

Result<TokenizerFiles> TokenizerFiles::read(const QString &dirPath) {
    const QDir dir(dirPath);
    if (!dir.exists())
        return Error(Error::Code::NotFound,
                     QStringLiteral("%1: tokenizer folder not found").arg(dirPath));
    TokenizerFiles files;
    // RobertaTokenizer's defaults, used for any role the config files do not name.
    files.namedTokens = {
        {"bos_token", NamedTokenSpec{"<s>", {}, {}}},
        {"eos_token", NamedTokenSpec{"</s>", {}, {}}},
        {"unk_token", NamedTokenSpec{"<unk>", {}, {}}},
        {"sep_token", NamedTokenSpec{"</s>", {}, {}}},
        {"pad_token", NamedTokenSpec{"<pad>", {}, {}}},
        {"cls_token", NamedTokenSpec{"<s>", {}, {}}},
        {"mask_token", NamedTokenSpec{"<mask>", {}, {}}},
    };

    const QString vocabPath = dir.filePath(QStringLiteral("vocab.json"));
    const QString mergesPath = dir.filePath(QStringLiteral("merges.txt"));
    const QString tokenizerJsonPath = dir.filePath(QStringLiteral("tokenizer.json"));
    const QString configPath = dir.filePath(QStringLiteral("tokenizer_config.json"));
    const QString mapPath = dir.filePath(QStringLiteral("special_tokens_map.json"));

    const bool haveVocab = QFile::exists(vocabPath);
    const bool haveMerges = QFile::exists(mergesPath);
    if (haveVocab || haveMerges || !QFile::exists(tokenizerJsonPath)) {
        // The slow tokenizer's own files win when present; a half pair is an error, not a fallback.
        if (!haveVocab)
            return Error(Error::Code::NotFound,
                         QStringLiteral("%1: file not found (the tokenizer needs vocab.json and "
                                        "merges.txt, or tokenizer.json)")
                             .arg(vocabPath));
        if (!haveMerges)
            return Error(Error::Code::NotFound,
                         QStringLiteral("%1: file not found (the tokenizer needs vocab.json and "
                                        "merges.txt, or tokenizer.json)")
                             .arg(mergesPath));
        std::vector<std::string> order;
        auto json = readJson(vocabPath, kMaxTokenizerFileBytes, &order);
        if (!json)
            return json.error();
        auto vocab = parseVocab(*json, vocabPath, QStringLiteral("the vocabulary"),
                                json->is_object() ? &order : nullptr);
        if (!vocab)
            return vocab.error();
        files.vocab = std::move(*vocab);
        auto merges = readMerges(mergesPath);
        if (!merges)
            return merges.error();
        files.merges = std::move(*merges);
    } else {
        if (Status s = readTokenizerJson(tokenizerJsonPath, files); !s)
            return s.error();
    }

    if (QFile::exists(configPath)) {
        // added_tokens_decoder of the config replaces tokenizer.json's list (HF gives it
        // precedence).
        std::vector<AddedTokenSpec> fromTokenizerJson = std::move(files.addedTokens);
        files.addedTokens.clear();
        if (Status s = readConfig(configPath, files); !s)
            return s.error();
        if (files.addedTokens.empty())
            files.addedTokens = std::move(fromTokenizerJson);
    }
    if (QFile::exists(mapPath)) {
        auto json = readJson(mapPath, kMaxConfigJsonBytes);
        if (!json)
            return json.error();
        if (!json->is_object())
            return formatError(mapPath, QStringLiteral("must be a JSON object"));
        if (Status s = applySpecialTokens(*json, mapPath, files); !s)
            return s.error();
    }
    return files;
}

} // namespace ts
