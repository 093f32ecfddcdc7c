"""The checks of ops/soak: what each device's receiver holds, against splitd's database.

After the fleet has drained (no planning request queued, no delivery pending, failed or in
flight, no receiver request open), every device is judged on what it needs *now*:

- a `split` device with a plan in force needs a plan with that split: the plan of the highest
  sequence it received must have the same split (`plans.split_id`, and the same device layers);
- a `table` device with a plan in force needs that plan's table: the highest-sequence plan it
  received must carry the same table (`plans.table_id`, and the same document as `plan_tables`);
- a device no split fits (`planning_state.infeasible_required_bytes`, no plan in force) needs the
  latest `split_plan.infeasible` notice: the highest sequence it received must be the latest
  notice enqueued for it (`webhook_deliveries.notice`), with the same memory figure;
- a device whose receiver answered 410 has no webhook any more (`devices.webhook_enabled`): it is
  excluded, with that reason.

"Highest sequence" is what a device keeps: plans and notices share one sequence (the plans' id
sequence) and a receiver ignores anything not above what it holds. Separately, "stale last"
flags a device whose *last applied* message is not its highest sequence: a late older message
arrived after a newer one (harmless to a receiver that compares sequences, but splitd promises one
delivery in flight per device, so it should not happen).
"""
import collections
import json
import math

from fleet import query_rows


def same_json(left, right, tolerance=1e-9):
    """Equal JSON documents, numbers compared with a relative tolerance (Swift re-encodes floats)."""
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same_json(left[key], right[key], tolerance) for key in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(same_json(a, b, tolerance) for a, b in zip(left, right))
    if isinstance(left, (int, float)) and isinstance(right, (int, float)) and not isinstance(left, bool) and not isinstance(right, bool):
        return math.isclose(left, right, rel_tol=tolerance, abs_tol=0.0) or left == right
    return left == right


def load(url):
    """Everything the checks read, in one place (one statement per table)."""
    return {
        "devices": query_rows(url, "SELECT id, push_mode, webhook_enabled, active FROM devices"),
        "plans": query_rows(url, """
            SELECT p.id, p.device_id, p.split_id, p.table_id, p.pushed, p.reason, p.superseded_at IS NULL AS current,
                   to_char(p.computed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS computed_at,
                   to_char(p.superseded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS superseded_at
            FROM plans p ORDER BY p.device_id, p.id"""),
        "current_layers": query_rows(url, """
            SELECT p.device_id, s.device_layers FROM plans p JOIN splits s ON s.id = p.split_id WHERE p.superseded_at IS NULL"""),
        "planning": query_rows(url, """
            SELECT device_id, infeasible_required_bytes, failures, last_failure, requested_reason FROM planning_state"""),
        "deliveries": query_rows(url, """
            SELECT id, plan_id, device_id, status, attempts, last_status_code, left(last_error, 160) AS last_error,
                   (notice->>'sequence')::int8 AS notice_sequence, (notice->>'required_device_memory_bytes')::int8 AS notice_required,
                   to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS created_at,
                   to_char(delivered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS delivered_at
            FROM webhook_deliveries ORDER BY device_id, id"""),
        "tables": query_rows(url, "SELECT id, document FROM plan_tables"),
    }


def check(data, fleet):
    """The verdict: per-device losses and stale-lasts with their evidence, and the run's counts.

    `fleet` maps device id -> {"push", "behaviour", "receipts": [receipt dicts in applied order]}.
    """
    devices = {row["id"]: row for row in data["devices"]}
    plans_by_device = collections.defaultdict(list)
    plan_by_id = {}
    for plan in data["plans"]:
        plans_by_device[plan["device_id"]].append(plan)
        plan_by_id[plan["id"]] = plan
    current = {device: plans[-1] for device, plans in plans_by_device.items() if plans[-1]["current"]}
    layers = {row["device_id"]: sorted(row["device_layers"]) for row in data["current_layers"]}
    planning = {row["device_id"]: row for row in data["planning"]}
    deliveries_by_device = collections.defaultdict(list)
    delivery_by_plan = {}
    delivery_by_id = {}
    for delivery in data["deliveries"]:
        deliveries_by_device[delivery["device_id"]].append(delivery)
        delivery_by_id[delivery["id"]] = delivery
        if delivery["plan_id"] is not None:
            delivery_by_plan[delivery["plan_id"]] = delivery
    tables = {row["id"]: row["document"] for row in data["tables"]}

    lost, stale_last, excluded, unplanned, content_mismatches = [], [], collections.Counter(), [], []
    older_after_newer = []
    needs = collections.Counter()
    for device, entry in sorted(fleet.items()):
        row = devices.get(device)
        receipts = entry["receipts"]
        if row is None:
            unplanned.append({"device": device, "why": "not in the devices table"})
            continue
        if not row["webhook_enabled"]:
            excluded["webhook disabled: the receiver answered 410 Gone"] += 1
            continue
        top = max(receipts, key=lambda receipt: receipt["sequence"]) if receipts else None
        highest = None
        for receipt in receipts:
            if highest is not None and receipt["sequence"] < highest["sequence"]:
                older_after_newer.append({"device": device, "behaviour": entry["behaviour"], "applied": receipt_summary(receipt),
                                          "after": receipt_summary(highest)})
            if highest is None or receipt["sequence"] > highest["sequence"]:
                highest = receipt
        if receipts and receipts[-1]["sequence"] != top["sequence"]:
            stale_last.append(stale_evidence(device, entry, receipts, top, delivery_by_id))
        plan = current.get(device)
        infeasible = (planning.get(device) or {}).get("infeasible_required_bytes")
        problem = None
        if plan is not None:
            needs[f"{row['push_mode']} device: the plan in force"] += 1
            received = plan_by_id.get(top["plan_id"]) if top and top["type"] == "split_plan.updated" else None
            if received is None:
                problem = "no plan received" if top is None else f"highest sequence received is {top['type']} #{top['sequence']}"
            elif row["push_mode"] == "split" and received["split_id"] != plan["split_id"]:
                problem = f"holds plan #{received['id']} (split {received['split_id']}), in force #{plan['id']} (split {plan['split_id']})"
            elif row["push_mode"] == "table" and received["table_id"] != plan["table_id"]:
                problem = f"holds plan #{received['id']} (table {received['table_id']}), in force #{plan['id']} (table {plan['table_id']})"
            elif row["push_mode"] == "split" and top.get("device_layers") != layers.get(device):
                content_mismatches.append({"device": device, "what": "device layers differ from the split in force"})
            elif row["push_mode"] == "table" and not same_json(top.get("table"), tables.get(plan["table_id"])):
                content_mismatches.append({"device": device, "what": f"table document differs from plan_tables #{plan['table_id']}"})
        elif infeasible is not None:
            needs["infeasible device: the latest notice"] += 1
            notices = [d for d in deliveries_by_device[device] if d["notice_sequence"] is not None]
            latest = max(notices, key=lambda d: d["notice_sequence"]) if notices else None
            if latest is None:
                problem = "infeasible, but no notice was enqueued"
            elif top is None or top["type"] != "split_plan.infeasible" or top["sequence"] != latest["notice_sequence"]:
                held = "nothing" if top is None else f"{top['type']} #{top['sequence']}"
                problem = f"holds {held}, latest notice #{latest['notice_sequence']} ({latest['status']})"
            elif top.get("required") != infeasible:
                content_mismatches.append({"device": device, "what": f"notice says {top.get('required')} bytes, planning_state {infeasible}"})
        else:
            unplanned.append({"device": device, "why": "no plan in force and not infeasible", "planning": planning.get(device)})
        if problem:
            lost.append(loss_evidence(device, entry, row, problem, plans_by_device[device], deliveries_by_device[device],
                                      delivery_by_plan, receipts, infeasible=plan is None))

    return {
        "needs": dict(needs),
        "lost": lost,
        "stale_last": stale_last,
        "excluded": dict(excluded),
        "unplanned": unplanned,
        "content_mismatches": content_mismatches,
        "older_after_newer": older_after_newer,
        "counts": counts(data, fleet, plans_by_device, delivery_by_plan),
    }


def counts(data, fleet, plans_by_device, delivery_by_plan):
    """Plans, pushes, the table-device cases the soak is about, deliveries, 410s."""
    modes = {row["id"]: row["push_mode"] for row in data["devices"]}
    result = collections.Counter()
    for device, plans in plans_by_device.items():
        mode = modes.get(device)
        previous = None
        for plan in plans:
            result["plans"] += 1
            result[f"plans of {mode} devices"] += 1
            result["pushed"] += plan["pushed"]
            # A plan stored by the planning transaction that superseded the one before has the same
            # time as that one's end (one now()); after an infeasible stretch the times differ.
            succeeds = previous is not None and previous["superseded_at"] == plan["computed_at"]
            if mode == "table" and succeeds and previous["table_id"] == plan["table_id"]:
                # Same table as the plan before: a local switch (not pushed), or a push owed
                # because the previous plan's delivery was dropped before it arrived.
                result["table devices: local switches (same table, not pushed)" if not plan["pushed"]
                       else "table devices: owed pushes (same table, pushed because the earlier push had not arrived)"] += 1
            elif mode == "table" and succeeds:
                result["table devices: table changes"] += 1
            elif previous is not None and not succeeds:
                result["plans after an infeasible stretch"] += 1
            previous = plan
    statuses = collections.Counter(d["status"] for d in data["deliveries"])
    notices = collections.Counter(d["status"] for d in data["deliveries"] if d["notice_sequence"] is not None)
    receipts = [r for entry in fleet.values() for r in entry["receipts"]]
    ids = collections.Counter(r["webhook_id"] for r in receipts)
    return {
        **dict(sorted(result.items())),
        "deliveries": dict(sorted(statuses.items())),
        "delivery attempts": sum(d["attempts"] for d in data["deliveries"]),
        "notices": dict(sorted(notices.items())),
        "deliveries answered 410": sum(1 for d in data["deliveries"] if d["last_status_code"] == 410),
        "deliveries dead for another reason": sum(1 for d in data["deliveries"] if d["status"] == "dead" and d["last_status_code"] != 410),
        "devices disabled by 410": sum(1 for row in data["devices"] if not row["webhook_enabled"]),
        "messages applied by receivers": len(receipts),
        "messages applied twice (same webhook-id)": sum(count - 1 for count in ids.values() if count > 1),
    }


def receipt_summary(receipt):
    return {key: receipt.get(key) for key in ("sequence", "type", "plan_id", "webhook_id", "arrived", "applied", "digest")}


def loss_cause(plans, deliveries, delivery_by_plan, infeasible):
    """Why the device misses what it needs, read off the push that should have carried it (the
    latest notice of an infeasible device, else the latest pushed plan up to the plan in force):
    (category, explanation)."""
    if infeasible:
        notices = [d for d in deliveries if d["notice_sequence"] is not None]
        delivery = max(notices, key=lambda d: d["notice_sequence"]) if notices else None
        if delivery is None:
            return "never pushed", "no notice was enqueued"
        what = f"its latest notice (#{delivery['notice_sequence']})"
    else:
        plan = next((plan for plan in reversed(plans) if plan["pushed"]), None)
        if plan is None:
            return "never pushed", "no plan of the device was pushed"
        delivery = delivery_by_plan.get(plan["id"])
        what = f"the push of plan #{plan['id']}"
        if plan["id"] != plans[-1]["id"]:
            what += f" (the later plans, up to #{plans[-1]['id']} in force, were not pushed)"
        if delivery is None:
            return "no delivery row", f"{what} has no delivery row"
    if delivery["status"] == "dead":
        return "push dead", (f"{what} went dead after {delivery['attempts']} attempts ({delivery['last_error']}) and nothing "
                             f"pushed it again: a dead delivery does not make the next plan's push owed")
    if delivery["status"] == "delivered":
        return "delivered, not applied", f"{what} is delivered according to the database, but the receiver never applied it"
    return delivery["status"], f"{what} is {delivery['status']}"


def loss_evidence(device, entry, row, problem, plans, deliveries, delivery_by_plan, receipts, infeasible=False):
    """What a lost device holds and how its last plans and deliveries went (the last 10 of each)."""
    cause, detail = loss_cause(plans, deliveries, delivery_by_plan, infeasible)
    chain = []
    for plan in plans[-10:]:
        delivery = delivery_by_plan.get(plan["id"]) or {}
        chain.append({**{key: plan[key] for key in ("id", "reason", "split_id", "table_id", "pushed", "computed_at", "superseded_at")},
                      "delivery": {key: delivery.get(key) for key in ("id", "status", "attempts", "last_status_code", "last_error",
                                                                       "created_at", "delivered_at")} if delivery else None})
    notices = [{key: d[key] for key in ("id", "notice_sequence", "status", "attempts", "last_error", "created_at", "delivered_at")}
               for d in deliveries if d["notice_sequence"] is not None][-5:]
    return {"device": device, "push": row["push_mode"], "behaviour": entry["behaviour"], "problem": problem,
            "cause": cause, "cause_detail": detail, "plans": chain, "notices": notices, "received": [receipt_summary(r) for r in receipts[-10:]]}


def stale_evidence(device, entry, receipts, top, delivery_by_id):
    last = receipts[-1]
    return {"device": device, "behaviour": entry["behaviour"],
            "last_applied": receipt_summary(last), "highest": receipt_summary(top),
            "last_delivery": delivery_by_id.get(last["webhook_id"]), "highest_delivery": delivery_by_id.get(top["webhook_id"])}


def dumps(value):
    return json.dumps(value, indent=2, sort_keys=False, default=str)
