"""Sharing evidence: create, list, follow, revoke; new access codes; receipts.

What a recipient does through a share is in ``share_access``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from argon2 import PasswordHasher

from opendems.domain.access import ObjectAttrs, Permission, decide
from opendems.domain.custody import CustodyEvent, format_time
from opendems.domain.errors import Conflict, Forbidden, Invalid, NotFound
from opendems.domain.evidence import Derivative, EvidenceItem
from opendems.domain.reports import ReceiptItem, ShareReceipt
from opendems.domain.sharing import (
    MAX_ITEMS,
    MAX_NOTE,
    RecipientKind,
    ServedFile,
    Share,
    ShareAccess,
    ShareContent,
    SharedObject,
    ShareTerms,
    captions_filename,
    check_terms,
    new_access_code,
    new_share_id,
    new_token,
    newest_redacted,
    served_file,
    share_principal,
    token_digest,
    watermarkable,
)
from opendems.ports import Clock, UnitOfWork
from opendems.services.context import Actor
from opendems.services.custody import authorize, record
from opendems.services.evidence import load_item
from opendems.services.transcripts import captions_for

_hasher = PasswordHasher()
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
WATERMARK_JOB = "watermark"


@dataclass(frozen=True)
class ShareRequest:
    recipient_kind: RecipientKind
    terms: ShareTerms
    evidence_ids: list[str] = field(default_factory=list)
    case_number: str | None = None
    export_ids: list[str] = field(default_factory=list)
    recipient_username: str | None = None  # RecipientKind.USER
    recipient_name: str = ""  # RecipientKind.LINK: the person's name
    recipient_email: str | None = None  # RecipientKind.LINK
    note: str = ""
    from_share: str | None = None  # reshare: the share the actor received


@dataclass(frozen=True)
class NewShare:
    share: Share
    link_token: str | None  # shown once: the link's secret
    access_code: str | None  # shown once: to be given to the recipient by another channel


def share_attrs(share: Share, uow: UnitOfWork) -> ObjectAttrs:
    """A share, as the policy sees it: its sharer owns it, and so do the sharers of the
    shares it was shared on from; agency-wide roles reach all."""
    owners = {share.created_by}
    parent_id = share.parent_id
    while parent_id:
        parent = uow.shares.get(parent_id)
        if parent is None:
            break
        owners.add(parent.created_by)
        parent_id = parent.parent_id
    return ObjectAttrs(owners=frozenset(owners), key=f"share:{share.id}")


def load_share(
    actor: Actor, share_id: str, permission: Permission, action: str, *, uow: UnitOfWork, clock: Clock
) -> Share:
    share = uow.shares.get(share_id.strip().upper())
    if share is None:
        raise NotFound(f"share {share_id} not found")
    if share.recipient_user_id == actor.principal.id and permission is Permission.EVIDENCE_VIEW:
        return share  # a recipient may always look at what they were given
    authorize(
        uow,
        actor,
        permission,
        clock=clock,
        action=action,
        object_type="share",
        object_id=share.id,
        attrs=share_attrs(share, uow),
    )
    return share


def _item(
    actor: Actor, raw: str, share_access: ShareAccess, *, uow: UnitOfWork, clock: Clock
) -> EvidenceItem:
    """An item the actor may share on these terms (to share downloads, they may download)."""
    item = load_item(actor, raw, Permission.SHARE_CREATE, "evidence:share", uow=uow, clock=clock)
    also = [Permission.EVIDENCE_VIEW]
    if share_access is ShareAccess.DOWNLOAD:
        also.append(Permission.EVIDENCE_DOWNLOAD)
    for permission in also:
        authorize(
            uow, actor, permission, clock=clock, action="evidence:share", object_type="evidence",
            object_id=item.id, item=item,
        )  # fmt: skip
    return item


def _recipient(actor: Actor, req: ShareRequest, *, uow: UnitOfWork) -> tuple[int | None, str, str | None]:
    if req.recipient_kind is RecipientKind.USER:
        name = (req.recipient_username or "").strip().lower()
        user = uow.accounts.user_by_name(name) if name else None
        if user is None or user.is_builtin:
            raise Invalid(f"there is no account {name!r} to share with")
        if user.status != "active":
            raise Invalid(f"the account {name!r} is disabled")
        if user.id == actor.principal.id:
            raise Invalid("you cannot share with yourself")
        return user.id, user.username, user.email
    email = (req.recipient_email or "").strip()
    if not _EMAIL.match(email) or len(email) > 320:
        raise Invalid("a link share needs the recipient's e-mail address")
    name = " ".join(req.recipient_name.split())[:200]
    return None, name or email, email


def create_share(actor: Actor, req: ShareRequest, *, uow: UnitOfWork, clock: Clock) -> NewShare:
    """Share items, a case's items or court exports with an account or by link."""
    note = req.note.strip()
    if len(note) > MAX_NOTE:
        raise Invalid(f"the message is longer than {MAX_NOTE} characters")
    now = clock.now()
    with uow:
        parent = None
        if req.from_share:
            parent, actor = _reshare_actor(actor, req.from_share, uow=uow, clock=clock)
        if not req.evidence_ids and not req.case_number:  # items are asked one by one below
            authorize(
                uow,
                actor,
                Permission.SHARE_CREATE,
                clock=clock,
                action="share:create",
                object_type="share",
                object_id="new",
            )
        terms = check_terms(req.terms, now, parent=parent)
        user_id, name, email = _recipient(actor, req, uow=uow)
        raw_ids = list(req.evidence_ids)
        case_number = None
        if req.case_number:
            from opendems.services.cases import load_case

            case = load_case(actor, req.case_number, uow=uow, clock=clock)
            case_number = case.number
            raw_ids += uow.cases.evidence_ids(case.number)
        items: list[EvidenceItem] = []
        seen: set[str] = set()
        for raw in raw_ids:
            item = _item(actor, raw, terms.access, uow=uow, clock=clock)
            if item.id not in seen:
                seen.add(item.id)
                items.append(item)
        exports = []
        for raw in dict.fromkeys(x.strip().upper() for x in req.export_ids):
            from opendems.services.exports import load_export

            exports.append(load_export(actor, raw, action="export:share", uow=uow, clock=clock))
        if not items and not exports:
            raise Invalid("choose at least one item, a case with evidence, or an export to share")
        if len(items) + len(exports) > MAX_ITEMS:
            raise Invalid(f"a share holds at most {MAX_ITEMS} items")
        missing = [i.id for i in items if served_file(i, terms.content) is None]
        if missing:
            raise Invalid(
                f"{len(missing)} of the items have no {terms.content.value} copy yet: "
                + ", ".join(missing[:10])
                + (" ..." if len(missing) > 10 else "")
            )
        objects = [SharedObject("evidence", i.id) for i in items] + [
            SharedObject("export", e.id) for e in exports
        ]
        if parent is not None:
            outside = {f"{o.object_type}:{o.object_id}" for o in objects} - actor.principal.shared
            if outside:
                raise Forbidden("a reshare can only hold what was shared with you")
        share = Share(
            id=new_share_id(),
            created_by=actor.principal.id,
            created_by_name=actor.principal.name,
            created_at=now,
            recipient_kind=req.recipient_kind,
            recipient_user_id=user_id,
            recipient_name=name,
            recipient_email=email,
            terms=terms,
            objects=objects,
            case_number=case_number,
            note=note,
            parent_id=parent.id if parent else None,
        )
        token = code = None
        if share.recipient_kind is RecipientKind.LINK:
            token, code = new_token(), new_access_code()
        from opendems.domain.sharing import normalise_code

        uow.shares.add(
            share,
            token_hash=token_digest(token) if token else None,
            code_hash=_hasher.hash(normalise_code(code)) if code else None,
        )
        record(
            uow,
            actor,
            "share:create",
            "share",
            share.id,
            clock=clock,
            details={
                "recipient": share.recipient,
                "recipient_kind": share.recipient_kind.value,
                "case": case_number,
                "objects": [f"{o.object_type}:{o.object_id}" for o in objects],
                "terms": terms_details(terms),
                "parent": share.parent_id,
            },
        )
        for item in items:
            served = served_file(item, terms.content)
            assert served is not None
            record(
                uow,
                actor,
                "evidence:share",
                "evidence",
                item.id,
                clock=clock,
                details={
                    "share": share.id,
                    "recipient": share.recipient,
                    "content": served.role,
                    "sha256": served.sha256,
                    "access": terms.access.value,
                    "watermark": terms.watermark,
                },
            )
            if terms.watermark and watermarkable(item):
                uow.jobs.enqueue(f"{WATERMARK_JOB}:{share.id}", item.id, now)
        for export in exports:
            record(
                uow,
                actor,
                "export:share",
                "export",
                export.id,
                clock=clock,
                details={"share": share.id, "recipient": share.recipient},
            )
        uow.commit()
        return NewShare(share, token, code)


def _reshare_actor(actor: Actor, share_id: str, *, uow: UnitOfWork, clock: Clock) -> tuple[Share, Actor]:
    parent = uow.shares.get(share_id.strip().upper())
    if parent is None or parent.recipient_user_id != actor.principal.id:
        raise NotFound(f"share {share_id} not found")
    refusal = parent.refusal(clock.now())
    if refusal:
        raise Conflict(refusal)
    if not parent.terms.reshare:
        raise Forbidden(f"share {parent.id} may not be shared on")
    principal = share_principal(parent, user_id=actor.principal.id, name=actor.principal.name)
    return parent, Actor(principal, actor.where, {**actor.extra, "through_share": parent.id})


def terms_details(terms: ShareTerms) -> dict[str, object]:
    return {
        "access": terms.access.value,
        "content": terms.content.value,
        "expires_at": format_time(terms.expires_at) if terms.expires_at else None,
        "max_downloads": terms.max_downloads,
        "watermark": terms.watermark,
        "reshare": terms.reshare,
    }


def list_shares(actor: Actor, *, uow: UnitOfWork, clock: Clock) -> tuple[list[Share], list[Share]]:
    """(shares the actor made -- every share for agency-wide roles --, shares received)."""
    with uow.for_reading() as reader:
        agency = (
            decide(actor.principal, Permission.SHARE_CREATE).allowed
            and decide(actor.principal, Permission.SCOPE_AGENCY).allowed
        )
        made = reader.shares.listing() if agency else reader.shares.listing(created_by=actor.principal.id)
        received = reader.shares.listing(recipient=actor.principal.id)
        return made, received


@dataclass(frozen=True)
class ShareDetail:
    share: Share
    activity: list[CustodyEvent]  # every event about the share, and about its items through it
    children: list[str]


def share_detail(actor: Actor, share_id: str, *, uow: UnitOfWork, clock: Clock) -> ShareDetail:
    """A share with who opened what and when (for its sharer, custodians and auditors)."""
    with uow:
        share = load_share(actor, share_id, Permission.SHARE_CREATE, "share:read", uow=uow, clock=clock)
        events = list(uow.custody.for_object("share", share.id))
        for o in share.objects:
            events += [
                e
                for e in uow.custody.for_object(o.object_type, o.object_id)
                if e.details_dict.get("share") == share.id and e.action != f"{o.object_type}:share"
            ]
        events.sort(key=lambda e: e.seq)
        return ShareDetail(share, events, uow.shares.children(share.id))


def revoke_share(actor: Actor, share_id: str, reason: str, *, uow: UnitOfWork, clock: Clock) -> Share:
    """End a share now, and every share made on from it."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise Invalid("say why the share is revoked")
    with uow:
        share = load_share(actor, share_id, Permission.SHARE_CREATE, "share:revoke", uow=uow, clock=clock)
        if share.revoked_at is not None:
            raise Conflict(f"share {share.id} was already revoked")
        now = clock.now()
        pending = [share.id]
        while pending:
            current = pending.pop()
            if uow.shares.revoke(current, actor.principal.id, reason, now):
                record(
                    uow,
                    actor,
                    "share:revoke",
                    "share",
                    current,
                    clock=clock,
                    reason=reason,
                    details={"cascade_from": share.id} if current != share.id else {},
                )
            pending += uow.shares.children(current)
        uow.commit()
        revoked = uow.shares.get(share.id)
        assert revoked is not None
        return revoked


def new_code(actor: Actor, share_id: str, *, uow: UnitOfWork, clock: Clock) -> str:
    """A new access code for a link share: the old one stops working, a lock is lifted."""
    from opendems.domain.sharing import normalise_code

    with uow:
        share = load_share(actor, share_id, Permission.SHARE_CREATE, "share:new_code", uow=uow, clock=clock)
        if share.recipient_kind is not RecipientKind.LINK:
            raise Invalid("only a link share has an access code")
        if share.revoked_at is not None:
            raise Conflict(f"share {share.id} was revoked")
        code = new_access_code()
        uow.shares.new_code(share.id, _hasher.hash(normalise_code(code)))
        record(uow, actor, "share:new_code", "share", share.id, clock=clock)
        uow.commit()
        return code


def shared_captions(share: Share, item: EvidenceItem, served: ServedFile | None) -> Derivative | None:
    """The captions (WebVTT) that go with what ``share`` plays of ``item`` (``served``): for a
    redacted share the redacted copy's own, made with it (every word said in a muted stretch
    reads ``[redacted]``) and never the item's; otherwise those of the latest transcript
    revision. None for a picture or a document, or when there are none."""
    if served is None or not served.mime_type.startswith(("video/", "audio/")):
        return None
    if share.terms.content is not ShareContent.REDACTED:
        return captions_for(item)
    newest = newest_redacted(item)
    if newest is None:
        return None
    kind = "redacted-captions-" + newest.kind.removeprefix("redacted-")
    return next(
        (d for d in item.derivatives if d.kind == kind and d.source_sha256 == newest.source_sha256), None
    )


def receipt_of(share: Share, uow: UnitOfWork, agency: str) -> ShareReceipt:
    items = []
    for o in share.objects:
        if o.object_type == "evidence":
            item = uow.evidence.get(o.object_id)
            served = served_file(item, share.terms.content) if item else None
            if item is None or served is None:
                continue
            items.append(
                ReceiptItem(item.id, item.title, served.filename, served.role, served.size, served.sha256)
            )
            captions = shared_captions(share, item, served)
            if captions is not None:  # handed over beside the recording (the portal, the ZIP)
                name = captions_filename(served.filename)
                items.append(
                    ReceiptItem(item.id, item.title, name, "captions", captions.size, captions.sha256)
                )
        else:
            export = uow.exports.get(o.object_id)
            if export is not None:
                items.append(
                    ReceiptItem(export.id, export.title, f"{export.id}.zip", "export", export.size or 0, "")
                )
    t = share.terms
    terms = [
        ("Access", "view and download" if t.access is ShareAccess.DOWNLOAD else "view only"),
        ("Form", t.content.value),
        ("Expires", format_time(t.expires_at) if t.expires_at else "never"),
        ("Downloads", f"at most {t.max_downloads}" if t.max_downloads else "no limit"),
        ("Watermark", "burned into videos and photos" if t.watermark else "none"),
        ("Reshare", "allowed" if t.reshare else "not allowed"),
    ]
    if share.revoked_at is not None:
        terms.append(("Revoked", f"{format_time(share.revoked_at)} by {share.revoked_by_name}"))
    return ShareReceipt(
        agency=agency,
        share_id=share.id,
        created_at=format_time(share.created_at),
        created_by=share.created_by_name,
        recipient=share.recipient,
        recipient_kind=share.recipient_kind.value,
        items=items,
        terms=terms,
        case_number=share.case_number,
    )


def share_receipt(actor: Actor, share_id: str, *, agency: str, uow: UnitOfWork, clock: Clock) -> ShareReceipt:
    with uow:
        share = load_share(actor, share_id, Permission.EVIDENCE_VIEW, "share:receipt", uow=uow, clock=clock)
        receipt = receipt_of(share, uow, agency)
        record(uow, actor, "share:receipt", "share", share.id, clock=clock)
        uow.commit()
        return receipt
