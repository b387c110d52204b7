// The restricted unpickler (core/model/internal/unpickler.h) on pickles built here opcode by
// opcode: the values a state dict pickles to, the opcodes it accepts, and what it refuses.
#include "core/model/internal/unpickler.h"
#include "torchsavewriter.h"

#include <QTest>

using namespace ts;
using ts::internal::PickleValue;
using ts::internal::Unpickler;
using ts::test::PickleWriter;
using Kind = ts::internal::PickleValue::Kind;

Q_DECLARE_METATYPE(ts::Error::Code)

class TestUnpickler : public QObject {
    Q_OBJECT
private Q_SLOTS:
    // A torch.save state dict: an OrderedDict of _rebuild_tensor_v2 calls over persistent-id
    // storages, two names sharing one storage; its _metadata state (BUILD) is accepted.
    void unpicklesAStateDict() {
        const QByteArray pickle =
            test::stateDictPickle({{"a", "FloatStorage", "0", 12, 0, {3, 4}, {4, 1}},
                                   {"t", "FloatStorage", "0", 12, 2, {4, 2}, {1, 4}},
                                   {"h", "HalfStorage", "1", 3, 0, {3}, {1}}},
                                  {}, /*withMetadata=*/true);
        Unpickler unpickler(pickle);
        const Result<const PickleValue *> root = unpickler.run();
        QVERIFY2(root.ok(), root.ok() ? "" : qPrintable(root.error().message));
        const PickleValue *dict = *root;
        QCOMPARE(dict->kind, Kind::Dict);
        const auto &entries = dict->dict->entries;
        QCOMPARE(entries.size(), size_t(3));
        const char *names[] = {"a", "t", "h"};
        for (size_t i = 0; i < entries.size(); ++i) {
            QCOMPARE(entries[i].first->kind, Kind::String);
            QCOMPARE(entries[i].first->s, std::string(names[i]));
            QCOMPARE(entries[i].second->kind, Kind::Tensor);
        }
        const auto &a = *entries[0].second->tensor;
        const auto &t = *entries[1].second->tensor;
        const auto &h = *entries[2].second->tensor;
        QCOMPARE(a.sizes, (std::vector<int64_t>{3, 4}));
        QCOMPARE(a.strides, (std::vector<int64_t>{4, 1}));
        QCOMPARE(a.offset, int64_t(0));
        QCOMPARE(t.sizes, (std::vector<int64_t>{4, 2}));
        QCOMPARE(t.strides, (std::vector<int64_t>{1, 4}));
        QCOMPARE(t.offset, int64_t(2));
        QVERIFY(a.storage == t.storage); // one storage value for one key
        QCOMPARE(a.storage->kind, Kind::Storage);
        QCOMPARE(a.storage->s, std::string("0"));
        QCOMPARE(a.storage->numel, int64_t(12));
        QCOMPARE(a.storage->dtype, at::kFloat);
        QCOMPARE(h.storage->s, std::string("1"));
        QCOMPARE(h.storage->dtype, at::kHalf);
    }

    void readsIntegersOfEveryWidth_data() {
        QTest::addColumn<qint64>("value");
        for (qint64 v : {qint64(0), qint64(255), qint64(256), qint64(65535), qint64(65536),
                         qint64(-1), qint64(INT32_MIN), qint64(INT32_MAX) + 1, qint64(1) << 40,
                         -(qint64(1) << 40), qint64(INT64_MIN), qint64(INT64_MAX)})
            QTest::addRow("%lld", qlonglong(v)) << v;
    }
    void readsIntegersOfEveryWidth() {
        QFETCH(qint64, value);
        PickleWriter p;
        p.integer(value).op('.'); // BININT1, BININT2, BININT or LONG1 by size
        Unpickler unpickler(p.bytes());
        const Result<const PickleValue *> r = unpickler.run();
        QVERIFY2(r.ok(), r.ok() ? "" : qPrintable(r.error().message));
        QCOMPARE((*r)->kind, Kind::Int);
        QCOMPARE((*r)->i, int64_t(value));
    }

    // LONG1 with fewer than 8 bytes is sign-extended from its last byte.
    void signExtendsShortLongs() {
        PickleWriter p;
        p.mark().op(0x8a).byte(2).byte(0x00).byte(0x80); // -32768
        p.op(0x8a).byte(0).op('t').op('.');              // 0
        Unpickler unpickler(p.bytes());
        const Result<const PickleValue *> r = unpickler.run();
        QVERIFY2(r.ok(), r.ok() ? "" : qPrintable(r.error().message));
        QCOMPARE((*r)->items.size(), size_t(2));
        QCOMPARE((*r)->items[0]->i, int64_t(-32768));
        QCOMPARE((*r)->items[1]->i, int64_t(0));
    }

    // BINPUT / MEMOIZE store the top of the stack; BINGET pushes the same value again.
    void memoReturnsTheStoredValue() {
        PickleWriter p;
        p.mark().str("key").op('q').byte(3).op(0x94).op('h').byte(3).op('h').byte(1);
        p.op('t').op('.');
        Unpickler unpickler(p.bytes());
        const Result<const PickleValue *> r = unpickler.run();
        QVERIFY2(r.ok(), r.ok() ? "" : qPrintable(r.error().message));
        const auto &items = (*r)->items;
        QCOMPARE(items.size(), size_t(3));
        QCOMPARE(items[0]->s, std::string("key"));
        QVERIFY(items[1] == items[0]); // memo 3 (BINPUT)
        QVERIFY(items[2] == items[0]); // memo 1 (MEMOIZE: index = len(memo), 1 here)
    }

    void refusesWhatAStateDictNeverUses_data() {
        QTest::addColumn<QByteArray>("pickle");
        QTest::addColumn<Error::Code>("code");
        QTest::addColumn<QString>("expected");
        auto row = [](const char *name, PickleWriter &p, Error::Code code, const char *expected) {
            QTest::newRow(name) << p.bytes() << code << QString::fromLatin1(expected);
        };
        {
            PickleWriter p;
            p.global("os", "system").str("echo pwned").op(0x85).op('R').op('.');
            row("a global outside the allow-list", p, Error::Code::Unsupported, "'os.system'");
        }
        {
            PickleWriter p;
            p.op('i'); // INST: builds arbitrary objects
            row("an opcode outside the allowed set", p, Error::Code::Unsupported, "opcode 0x69");
        }
        {
            PickleWriter p(6);
            p.op('N').op('.');
            row("protocol 6", p, Error::Code::Unsupported, "protocol 6");
        }
        {
            PickleWriter p;
            p.global("torch", "FloatStorage").op(')').op('R').op('.');
            row("calling a storage type", p, Error::Code::Unsupported, "storage type");
        }
        {
            PickleWriter p;
            p.op('N').op(')').op('R').op('.');
            row("calling a non-global", p, Error::Code::Unsupported, "calls a None");
        }
        {
            PickleWriter p;
            p.mark().str("x").op('t');
            row("no STOP", p, Error::Code::Format, "ends inside an opcode");
        }
        {
            PickleWriter p;
            p.op('0');
            row("popping an empty stack", p, Error::Code::Format, "pops an empty stack");
        }
        {
            PickleWriter p;
            p.op('h').byte(9).op('.');
            row("reading a memo entry never stored", p, Error::Code::Format, "never stored");
        }
        {
            PickleWriter p;
            p.op('X').le32(1000).raw("short").op('.');
            row("a string running past the end", p, Error::Code::Format, "runs past its end");
        }
        {
            PickleWriter p;
            p.op('N').str("k").op('N').op('s').op('.');
            row("setting an item on None", p, Error::Code::Format, "sets an item on a None");
        }
        {
            PickleWriter p;
            p.mark().str("storage").str("no type").str("0").str("cpu").integer(1).op('t');
            p.op('Q').op('.');
            row("a persistent id that is not a storage", p, Error::Code::Format, "persistent id");
        }
        {
            const QByteArray flood = test::emptyDictFloodPickle(2'000'000);
            QTest::newRow("one container per opcode byte, past the memory budget")
                << flood << Error::Code::Format << QStringLiteral("MiB of memory");
        }
    }
    void refusesWhatAStateDictNeverUses() {
        QFETCH(QByteArray, pickle);
        QFETCH(Error::Code, code);
        QFETCH(QString, expected);
        Unpickler unpickler(pickle);
        const Result<const PickleValue *> r = unpickler.run();
        QVERIFY2(!r.ok(), "a pickle a state dict never needs was accepted");
        QCOMPARE(r.error().code, code);
        QVERIFY2(r.error().message.contains(expected), qPrintable(r.error().message));
    }
};

QTEST_GUILESS_MAIN(TestUnpickler)
#include "tst_unpickler.moc"
