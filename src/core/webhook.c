/* webhook.c -- one admission request end to end; the path `serve` and `check` share. */
#include "webhook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kstatus.h"

bool lg_webhook_begin(const char *body, size_t len, lg_webhook_result *out) {
  char uid[128], msg[512];

  memset(out, 0, sizeof *out);
  out->rc =
      lg_admission_decode(body, len, &out->review, uid, sizeof uid, out->error, sizeof out->error);
  if (out->rc) {
    /* The API server applies the webhook's failurePolicy to the 400. */
    snprintf(msg, sizeof msg, "leaseguard: %s%s%s%s", out->error, uid[0] ? " (request uid " : "",
             uid, uid[0] ? ")" : "");
    out->http_status = 400;
    out->body = lg_kstatus_encode(400, "BadRequest", msg);
    return false;
  }
  out->http_status = 200;
  out->verdict.allowed = true;
  return true;
}

lg_rc lg_webhook_handle(const char *body, size_t len, const lg_webhook_env *env,
                        lg_webhook_result *out) {
  char warning[LG_WARNING_MAX + 1];
  lg_review *r = &out->review;
  lg_rules_input in;

  if (!lg_webhook_begin(body, len, out))
    goto out;
  if (!r->is_lease) {
    /* A misconfigured webhook (rules matching more than leases) must not break the
     * cluster: let it through and say so. */
    out->ignored = "not a coordination.k8s.io Lease";
    snprintf(
        warning, sizeof warning,
        "leaseguard: ignored %s/%s %s/%s: not a coordination.k8s.io Lease; check the webhook rules",
        r->group[0] ? r->group : "core", r->kind, r->namespace, r->name);
    out->body = lg_admission_encode_n(r->uid, r->uid_len, &out->verdict, warning);
    goto out;
  }
  lg_policy_resolve(env->policy, env->mode_override, r->namespace, r->name, r->requester.username,
                    &out->config);
  lg_witness_evidence(env->witness, r->namespace, r->name,
                      r->has_old_object ? &r->old_object : NULL, r->has_object ? &r->object : NULL,
                      r->requester.username, env->mono, &out->evidence);
  in = (lg_rules_input){
      .op = r->op,
      .namespace = r->namespace,
      .name = r->name,
      .old_lease = r->has_old_object ? &r->old_object : NULL,
      .new_lease = r->has_object ? &r->object : NULL,
      .requester = &r->requester,
      .evidence = &out->evidence,
  };
  lg_rules_evaluate(&in, &out->config, env->now, &out->verdict);
  /* A dry run is never stored, so it shows nothing about the lease's term. Exempt and
   * metadata-only writes are still facts about it. */
  if (!r->dry_run)
    lg_witness_record(env->witness,
                      &(lg_witness_write){
                          .namespace = r->namespace,
                          .name = r->name,
                          .op = r->op,
                          .old_l = in.old_lease,
                          .new_l = in.new_lease,
                          .username = r->requester.username,
                          .controller = lg_rules_is_controller(&out->config, r->requester.username),
                          .allowed = out->verdict.allowed,
                          .verdict = &out->verdict,
                          .wall = env->now,
                          .mono = env->mono,
                      });
  /* A holder stamping renewTime anew shows how far its clock is from ours. */
  if (out->verdict.allowed && !r->dry_run && in.new_lease && lg_lease_held(in.new_lease) &&
      in.new_lease->has_renew &&
      !(in.old_lease && in.old_lease->has_renew && in.old_lease->renew == in.new_lease->renew) &&
      !lg_rules_is_controller(&out->config, r->requester.username)) {
    out->has_offset = true;
    out->offset = in.new_lease->renew - env->now;
  }
  out->body = lg_admission_encode_n(r->uid, r->uid_len, &out->verdict, NULL);
out:
  if (!out->body) {
    out->rc = LG_ENOMEM;
    out->http_status = 500;
    snprintf(out->error, sizeof out->error, "out of memory");
  }
  return out->rc;
}

void lg_webhook_result_free(lg_webhook_result *r) {
  if (!r)
    return;
  free(r->body);
  lg_admission_free(&r->review);
  r->body = NULL;
}
