#include "ui/failuresdialog.h"

#include <QApplication>
#include <QClipboard>
#include <QDialogButtonBox>
#include <QDir>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QTreeWidget>
#include <QVBoxLayout>

namespace ts {

FailuresDialog::FailuresDialog(const QList<PhotoRecord> &failures, QWidget *parent)
    : QDialog(parent), m_list(new QTreeWidget(this)) {
    setWindowTitle(tr("Photos That Could Not Be Indexed"));
    auto *layout = new QVBoxLayout(this);
    layout->addWidget(
        new QLabel(tr("These files were skipped. Fix or remove them, then rescan."), this));
    m_list->setHeaderLabels({tr("File"), tr("Problem")});
    m_list->setRootIsDecorated(false);
    m_list->setAccessibleName(tr("Failed photos"));
    m_list->setAlternatingRowColors(true);
    for (const PhotoRecord &r : failures) {
        auto *item = new QTreeWidgetItem(m_list, {QDir::toNativeSeparators(r.path), r.error});
        item->setToolTip(0, r.path);
        item->setToolTip(1, r.error);
    }
    m_list->header()->setSectionResizeMode(0, QHeaderView::ResizeToContents);
    layout->addWidget(m_list, 1);
    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
    QPushButton *copy = buttons->addButton(tr("Copy List"), QDialogButtonBox::ActionRole);
    connect(copy, &QPushButton::clicked, this, [failures] {
        QStringList lines;
        for (const PhotoRecord &r : failures)
            lines << QStringLiteral("%1\t%2").arg(r.path, r.error);
        QApplication::clipboard()->setText(lines.join(QLatin1Char('\n')));
    });
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    layout->addWidget(buttons);
    resize(760, 420);
}

} // namespace ts
