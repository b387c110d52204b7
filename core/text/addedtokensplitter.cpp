#include "core/text/addedtokensplitter.h"

#include "core/text/unicodeclasses.h"

#include <algorithm>

namespace ts {

AddedTokenSplitter::AddedTokenSplitter(std::vector<Token> tokens) : m_tokens(std::move(tokens)) {
    for (size_t i = 0; i < m_tokens.size(); ++i)
        if (!m_tokens[i].content.empty())
            m_byFirstChar[m_tokens[i].content.front()].push_back(i);
    for (auto &[first, list] : m_byFirstChar)
        std::stable_sort(list.begin(), list.end(), [this](size_t a, size_t b) {
            return m_tokens[a].content.size() > m_tokens[b].content.size();
        });
}

std::vector<AddedTokenSplitter::Chunk> AddedTokenSplitter::split(std::u32string_view text) const {
    struct Piece {
        std::u32string_view text;
        const Token *token = nullptr;
    };
    std::vector<Piece> pieces;
    size_t textStart = 0;
    for (size_t i = 0; i < text.size();) {
        const Token *match = nullptr;
        if (const auto it = m_byFirstChar.find(text[i]); it != m_byFirstChar.end()) {
            for (const size_t k : it->second) {
                if (text.substr(i).starts_with(m_tokens[k].content)) {
                    match = &m_tokens[k];
                    break; // longest first
                }
            }
        }
        if (!match) {
            ++i;
            continue;
        }
        if (i > textStart)
            pieces.push_back({text.substr(textStart, i - textStart), nullptr});
        pieces.push_back({match->content, match});
        i += match->content.size();
        textStart = i;
    }
    if (textStart < text.size())
        pieces.push_back({text.substr(textStart), nullptr});

    // HF strips neighbours in order, one added token at a time; a neighbour that is itself an added
    // token is "stripped" too, which cannot change it unless its content has outer whitespace.
    auto lstripView = [](std::u32string_view v) {
        while (!v.empty() && UnicodeClasses::isPythonSpace(v.front()))
            v.remove_prefix(1);
        return v;
    };
    auto rstripView = [](std::u32string_view v) {
        while (!v.empty() && UnicodeClasses::isPythonSpace(v.back()))
            v.remove_suffix(1);
        return v;
    };
    for (size_t i = 0; i < pieces.size(); ++i) {
        const Token *t = pieces[i].token;
        if (!t)
            continue;
        if (t->rstrip && i + 1 < pieces.size() && !pieces[i + 1].token)
            pieces[i + 1].text = lstripView(pieces[i + 1].text);
        if (t->lstrip && i > 0 && !pieces[i - 1].token)
            pieces[i - 1].text = rstripView(pieces[i - 1].text);
    }

    std::vector<Chunk> chunks;
    chunks.reserve(pieces.size());
    for (const Piece &p : pieces) {
        if (p.token)
            chunks.push_back({{}, p.token->id});
        else if (!p.text.empty())
            chunks.push_back({p.text, -1});
    }
    return chunks;
}

} // namespace ts
