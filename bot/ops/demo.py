"""The demo data set (CONTRACTS.md): nine merchants, one of them with an overdue change request.

`seed(session)` is idempotent and runs on every start: a merchant that already exists is left
exactly as it is (the demo may have changed its account since), so only missing merchants are added.

`seed_load_test_merchants(session, count)` adds merchants for load tests (`make bench`), never part
of the demo: each can go through the whole change conversation once.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import (
    AccountKind,
    ChangeRequest,
    Merchant,
    MerchantKind,
    RequestStatus,
    SettlementAccount,
    Terminal,
    TerminalStatus,
    audit,
    new_reference,
)
from bot.workdays import add_working_days, local_now, utcnow

BANK_NAMES = {
    "ABC": "中国农业银行",
    "CCB": "中国建设银行",
    "CMB": "招商银行",
    "BOC": "中国银行",
    "PSBC": "中国邮政储蓄银行",
    "ICBC": "中国工商银行",
}


@dataclass(frozen=True)
class DemoMerchant:
    number: str
    kind: MerchantKind
    name: str  # legal person / operator
    id_number: str
    phone: str
    bank_code: str
    account_number: str
    terminal_active: bool = True
    business_name: str | None = None
    license_code: str | None = None
    account_kind: AccountKind = AccountKind.DEBIT_CARD

    @property
    def account_holder(self) -> str:
        # A corporate account is in the company's name; a card in the operator's own name.
        if self.account_kind is AccountKind.CORPORATE_ACCOUNT and self.business_name:
            return self.business_name
        return self.name


MICRO, SOLE, COMPANY = MerchantKind.MICRO, MerchantKind.SOLE_TRADER, MerchantKind.COMPANY

DEMO_MERCHANTS: tuple[DemoMerchant, ...] = (
    DemoMerchant("822100000000001", MICRO, "张伟", "310101198503171233", "13800000001", "ABC", "6228485000000000781"),
    DemoMerchant(
        "822100000000002", SOLE, "李娜", "440103199008224568", "13800000002", "CCB", "6227002000000000340",
        business_name="李娜便利店", license_code="92310115MA1K3B4C59",
    ),
    DemoMerchant(
        "822100000000003", COMPANY, "王磊", "110108197806057895", "13800000003", "CMB", "121900000000001",
        business_name="上海示例科技有限公司", license_code="91310110666007217T",
        account_kind=AccountKind.CORPORATE_ACCOUNT,
    ),
    DemoMerchant("822100000000004", MICRO, "赵敏", "320502199211112340", "13800000004", "BOC", "6216604000000000568"),
    DemoMerchant(
        "822100000000005", MICRO, "陈静", "61010319880214567X", "13800000005", "PSBC", "6221886000000000914",
        terminal_active=False,
    ),
    DemoMerchant("822100000000006", MICRO, "刘洋", "420106198709093215", "13800000006", "ICBC", "6222021000000000215"),
    DemoMerchant("822100000000007", MICRO, "孙丽", "330102199501206548", "13800000007", "CCB", "6227002000000000522"),
    DemoMerchant("822100000000008", MICRO, "周强", "370202198307189877", "13800000008", "BOC", "6216604000000000717"),
    DemoMerchant("822100000000009", MICRO, "吴芳", "210102199103032469", "13800000009", "ABC", "6228485000000000930"),
)

# Merchant 4's open request: filed 6 working days ago, due after 3, so overdue (the "no answer long
# after submitting" case). The new card is the ICBC example of DOMAIN_RULES.md.
OVERDUE_MERCHANT = "822100000000004"
OVERDUE_FILED_WORKING_DAYS_AGO = 6
OVERDUE_REVIEW_WORKING_DAYS = 3
OVERDUE_NEW_CARD = "6222021000000000124"
OVERDUE_IDEMPOTENCY_KEY = f"demo-seed:{OVERDUE_MERCHANT}"


@dataclass(frozen=True)
class SeedSummary:
    merchants_created: int
    merchants_total: int
    requests_created: int


def _terminal_serial(merchant_number: str) -> str:
    return f"POS{merchant_number[-6:]}"


def _add_merchant(session: Session, demo: DemoMerchant) -> Merchant:
    now = utcnow()
    merchant = Merchant(
        merchant_number=demo.number,
        kind=demo.kind,
        business_name=demo.business_name,
        license_code=demo.license_code,
        legal_person_name=demo.name,
        holder_id_number=demo.id_number,
        phone=demo.phone,
        created_at=now,
    )
    merchant.terminals.append(
        Terminal(
            serial_number=_terminal_serial(demo.number),
            status=TerminalStatus.ACTIVE if demo.terminal_active else TerminalStatus.INACTIVE,
            activated_at=now if demo.terminal_active else None,
        )
    )
    merchant.accounts.append(
        SettlementAccount(
            bank_code=demo.bank_code,
            bank_name=BANK_NAMES[demo.bank_code],
            account_kind=demo.account_kind,
            account_number=demo.account_number,
            holder_name=demo.account_holder,
            is_current=True,
            created_at=now,
        )
    )
    session.add(merchant)
    return merchant


def _add_overdue_request(session: Session, merchant: Merchant) -> ChangeRequest:
    # 10:00 local: a plausible filing time, and on the same calendar date in UTC and in local time.
    # "Today" is the local (China) date, like every working-day count in the project.
    filed_clock = local_now().replace(hour=10, minute=0, second=0, microsecond=0)
    created = add_working_days(filed_clock, -OVERDUE_FILED_WORKING_DAYS_AGO)
    request = ChangeRequest(
        reference=new_reference(created),
        merchant=merchant,
        status=RequestStatus.UNDER_REVIEW,
        reason="更换开户银行",
        bank_code="ICBC",
        bank_name=BANK_NAMES["ICBC"],
        account_number=OVERDUE_NEW_CARD,
        account_name="赵敏",
        holder_id_number=merchant.holder_id_number,
        opening_branch="中国工商银行苏州分行营业部",
        channel="webchat",
        needs_manual_review=False,
        idempotency_key=OVERDUE_IDEMPOTENCY_KEY,
        created_at=created,
        updated_at=created,
        due_at=add_working_days(created, OVERDUE_REVIEW_WORKING_DAYS),
    )
    session.add(request)
    audit(
        session,
        f"merchant:{merchant.merchant_number}",
        "change_request.filed",
        merchant=merchant,
        change_request=request,
        occurred_at=created,
        reference=request.reference,
        bank_code=request.bank_code,
        card_last4=request.card_last4,
        source="demo seed",
    )
    return request


def seed(session: Session) -> SeedSummary:
    """Add whatever part of the demo data set is missing; the caller commits."""
    numbers = [demo.number for demo in DEMO_MERCHANTS]
    existing = {
        merchant.merchant_number: merchant
        for merchant in session.execute(select(Merchant).where(Merchant.merchant_number.in_(numbers))).scalars()
    }
    created = 0
    for demo in DEMO_MERCHANTS:
        if demo.number not in existing:
            existing[demo.number] = _add_merchant(session, demo)
            created += 1

    # The overdue request comes with merchant 4 only: once that merchant exists, whatever happened
    # to its request since (reviewed, cancelled, another one filed) is left alone.
    requests_created = 0
    overdue_merchant = existing[OVERDUE_MERCHANT]
    if overdue_merchant in session.new:
        _add_overdue_request(session, overdue_merchant)
        requests_created = 1
    session.flush()
    return SeedSummary(merchants_created=created, merchants_total=len(existing), requests_created=requests_created)


# Load-test merchants (`bot demo seed-load-test`): micro merchants that pass every pre-check, whose
# operator is the holder the conversation names (同名结算, no handoff), and whose current card
# differs from the card the conversation submits (LOAD_TEST_NEW_CARD).
LOAD_TEST_NAME = "张伟"
LOAD_TEST_ID_NUMBER = "310101198503171233"
LOAD_TEST_CURRENT_CARD = "6228485000000000781"  # ABC debit
LOAD_TEST_NEW_CARD = "6222021000000000124"  # ICBC debit, what the conversation submits


def load_test_merchant(index: int) -> DemoMerchant:
    """Load-test merchant `index` (10-999; 1-9 are the demo's numbers): number 822100000000NNN,
    registered phone 13900000NNN."""
    if not 10 <= index <= 999:
        raise ValueError(f"load-test merchant index must be 10-999, got {index}")
    return DemoMerchant(f"822100000000{index:03d}", MICRO, LOAD_TEST_NAME, LOAD_TEST_ID_NUMBER,
                        f"13900000{index:03d}", "ABC", LOAD_TEST_CURRENT_CARD)


def seed_load_test_merchants(session: Session, count: int, start: int = 100) -> SeedSummary:
    """Add the load-test merchants `start` .. `start + count - 1` that are missing; the caller
    commits."""
    merchants = [load_test_merchant(index) for index in range(start, start + count)]
    numbers = [merchant.number for merchant in merchants]
    existing = set(session.execute(select(Merchant.merchant_number)
                                   .where(Merchant.merchant_number.in_(numbers))).scalars())
    missing = [merchant for merchant in merchants if merchant.number not in existing]
    for merchant in missing:
        _add_merchant(session, merchant)
    session.flush()
    return SeedSummary(merchants_created=len(missing), merchants_total=len(merchants), requests_created=0)
