-- Revision 5a0eb0c0ffee as released (today's migrations/), postgresql.
-- Written by `python -m tests.migration_snapshots`: the schema a database migrated to this revision
-- holds, replayed by tests/test_migration_history.py.  Never edit: released migrations are history.
CREATE SEQUENCE evidence_chain_head_id_seq AS integer INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1;
CREATE SEQUENCE evidence_checkpoints_id_seq AS integer INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1;
CREATE SEQUENCE journal_refusals_id_seq AS integer INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1;
CREATE TABLE access_links (
    id character varying(36) NOT NULL,
    letter_id character varying(36) NOT NULL,
    token_hash character varying(64) NOT NULL,
    created_at timestamp with time zone NOT NULL
);
CREATE TABLE agent_audit_log (
    id character varying(36) NOT NULL,
    agent_id character varying(36) NOT NULL,
    action character varying(40) NOT NULL,
    letter_id character varying(36),
    reason character varying(500),
    at timestamp with time zone NOT NULL,
    details json NOT NULL
);
CREATE TABLE agents (
    id character varying(36) NOT NULL,
    email character varying(254) NOT NULL,
    password_hash character varying(255) NOT NULL,
    is_operator_admin boolean NOT NULL DEFAULT false,
    is_active boolean NOT NULL DEFAULT true,
    created_at timestamp with time zone NOT NULL,
    last_login_at timestamp with time zone,
    session_epoch integer NOT NULL DEFAULT 0,
    login_failures integer NOT NULL DEFAULT 0,
    login_failures_since timestamp with time zone,
    login_locked_until timestamp with time zone,
    totp_enabled_at timestamp with time zone,
    totp_key_id character varying(16),
    totp_wrapped_key bytea,
    totp_nonce bytea,
    totp_ciphertext bytea,
    totp_last_timestep integer,
    totp_failures integer NOT NULL DEFAULT 0,
    totp_failures_since timestamp with time zone,
    totp_locked_until timestamp with time zone
);
CREATE TABLE alembic_version (
    version_num character varying(32) NOT NULL
);
CREATE TABLE api_tokens (
    id character varying(36) NOT NULL,
    user_id character varying(36) NOT NULL,
    name character varying(100) NOT NULL,
    token_hash character varying(64) NOT NULL,
    prefix character varying(12) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    last_used_at timestamp with time zone,
    revoked_at timestamp with time zone
);
CREATE TABLE batch_documents (
    id character varying(36) NOT NULL,
    batch_id character varying(36) NOT NULL,
    name character varying(255) NOT NULL,
    key_id character varying(16) NOT NULL,
    wrapped_key bytea NOT NULL,
    nonce bytea NOT NULL,
    ciphertext bytea,
    object_key character varying(200),
    object_sha256 character varying(64)
);
CREATE TABLE batch_rows (
    id character varying(36) NOT NULL,
    batch_id character varying(36) NOT NULL,
    row_number integer NOT NULL,
    recipient_name character varying(200) NOT NULL,
    recipient_phone character varying(20) NOT NULL,
    recipient_email character varying(254),
    sender_reference character varying(100),
    language character varying(5) NOT NULL,
    document_name character varying(255) NOT NULL,
    letter_id character varying(36),
    identity text
);
CREATE TABLE batches (
    id character varying(36) NOT NULL,
    organisation_id character varying(36) NOT NULL,
    user_id character varying(36) NOT NULL,
    status character varying(20) NOT NULL,
    csv_name character varying(255) NOT NULL,
    language character varying(5) NOT NULL,
    document_confidential boolean NOT NULL DEFAULT false,
    total_rows integer NOT NULL,
    deposited_rows integer NOT NULL,
    error character varying(200),
    created_at timestamp with time zone NOT NULL,
    started_at timestamp with time zone,
    finished_at timestamp with time zone
);
CREATE TABLE delivery_receipts (
    id character varying(36) NOT NULL,
    message_id character varying(36) NOT NULL,
    provider character varying(20) NOT NULL,
    provider_message_id character varying(100) NOT NULL,
    status character varying(20) NOT NULL,
    error_code character varying(20),
    operator_at timestamp with time zone,
    received_at timestamp with time zone NOT NULL,
    evidence_id character varying(36),
    payload text NOT NULL
);
CREATE TABLE documents (
    letter_id character varying(36) NOT NULL,
    key_id character varying(16) NOT NULL,
    wrapped_key bytea NOT NULL,
    nonce bytea NOT NULL,
    ciphertext bytea,
    object_key character varying(200),
    object_sha256 character varying(64)
);
CREATE TABLE draft_documents (
    id character varying(36) NOT NULL,
    user_id character varying(36) NOT NULL,
    filename character varying(255) NOT NULL,
    size integer NOT NULL,
    key_id character varying(16) NOT NULL,
    wrapped_key bytea NOT NULL,
    nonce bytea NOT NULL,
    ciphertext bytea NOT NULL,
    created_at timestamp with time zone NOT NULL
);
CREATE TABLE eid_attempts (
    id character varying(36) NOT NULL,
    letter_id character varying(36) NOT NULL,
    provider character varying(32) NOT NULL,
    state_hash character varying(64) NOT NULL,
    nonce character varying(64) NOT NULL,
    code_verifier character varying(128) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    finished_at timestamp with time zone,
    status character varying(16) NOT NULL,
    outcome character varying(40)
);
CREATE TABLE email_confirmations (
    id character varying(36) NOT NULL,
    user_id character varying(36) NOT NULL,
    email character varying(254) NOT NULL,
    token_hash character varying(64) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    used_at timestamp with time zone,
    token_key_id character varying(16),
    token_wrapped_key bytea,
    token_nonce bytea,
    token_ciphertext bytea,
    language character varying(5) NOT NULL DEFAULT 'fr'::character varying,
    email_attempts integer NOT NULL DEFAULT 0,
    email_sent_at timestamp with time zone,
    email_error character varying(200),
    email_status character varying(20) NOT NULL
);
CREATE TABLE evidence (
    id character varying(36) NOT NULL,
    seq integer NOT NULL,
    letter_id character varying(36) NOT NULL,
    event character varying(50) NOT NULL,
    occurred_at timestamp with time zone NOT NULL,
    canonical text NOT NULL,
    previous_hash character varying(64) NOT NULL,
    record_hash character varying(64) NOT NULL,
    seal bytea,
    sealed_at timestamp with time zone
);
CREATE TABLE evidence_chain_head (
    id integer NOT NULL DEFAULT nextval('evidence_chain_head_id_seq'::regclass),
    seq integer NOT NULL,
    record_hash character varying(64) NOT NULL,
    version integer NOT NULL
);
CREATE TABLE evidence_checkpoints (
    id integer NOT NULL DEFAULT nextval('evidence_checkpoints_id_seq'::regclass),
    seq integer NOT NULL,
    record_hash character varying(64) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    canonical text NOT NULL,
    seal bytea NOT NULL
);
CREATE TABLE invitations (
    id character varying(36) NOT NULL,
    organisation_id character varying(36) NOT NULL,
    email character varying(254) NOT NULL,
    role character varying(20) NOT NULL,
    token_hash character varying(64) NOT NULL,
    invited_by_user_id character varying(36) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    accepted_at timestamp with time zone,
    token_key_id character varying(16),
    token_wrapped_key bytea,
    token_nonce bytea,
    token_ciphertext bytea,
    language character varying(5) NOT NULL DEFAULT 'fr'::character varying,
    email_attempts integer NOT NULL DEFAULT 0,
    email_sent_at timestamp with time zone,
    email_error character varying(200),
    email_status character varying(20) NOT NULL
);
CREATE TABLE journal_checkpoints (
    tree_size bigint NOT NULL,
    root_hash character varying(64) NOT NULL,
    note text NOT NULL,
    created_at timestamp with time zone NOT NULL,
    timestamp_token bytea NOT NULL,
    timestamped_at timestamp with time zone NOT NULL,
    seal bytea NOT NULL
);
CREATE TABLE journal_nodes (
    level smallint NOT NULL,
    "position" bigint NOT NULL,
    hash bytea NOT NULL
);
CREATE TABLE journal_refusals (
    id integer NOT NULL DEFAULT nextval('journal_refusals_id_seq'::regclass),
    evidence_id character varying(36) NOT NULL,
    seq bigint NOT NULL,
    problem character varying(200) NOT NULL,
    first_seen_at timestamp with time zone NOT NULL,
    last_seen_at timestamp with time zone NOT NULL,
    times integer NOT NULL
);
CREATE TABLE key_rotations (
    id character varying(36) NOT NULL,
    kind character varying(20) NOT NULL,
    old_key_id character varying(100),
    new_key_id character varying(100) NOT NULL,
    started_at timestamp with time zone NOT NULL,
    finished_at timestamp with time zone,
    started_by character varying(80) NOT NULL,
    rewrapped integer NOT NULL DEFAULT 0,
    record text,
    seal bytea
);
CREATE TABLE legal_holds (
    id character varying(36) NOT NULL,
    letter_id character varying(36) NOT NULL,
    reason character varying(500) NOT NULL,
    placed_at timestamp with time zone NOT NULL,
    placed_by character varying(80) NOT NULL,
    lifted_at timestamp with time zone,
    lifted_by character varying(80),
    lift_reason character varying(500)
);
CREATE TABLE letter_identities (
    letter_id character varying(36) NOT NULL,
    method character varying(16) NOT NULL,
    expected_cin_hmac character varying(64),
    expected_cin_masked character varying(32),
    expected_name character varying(200),
    expected_birth_date date,
    eid_failures integer NOT NULL DEFAULT 0
);
CREATE TABLE letter_name_words (
    letter_id character varying(36) NOT NULL,
    word character varying(129) NOT NULL,
    deposited_at timestamp with time zone NOT NULL
);
CREATE TABLE letters (
    id character varying(36) NOT NULL,
    reference character varying(16) NOT NULL,
    organisation_id character varying(36) NOT NULL,
    sender_user_id character varying(36) NOT NULL,
    status character varying(20) NOT NULL,
    channel character varying(10) NOT NULL,
    language character varying(5) NOT NULL,
    recipient_name character varying(200) NOT NULL,
    recipient_phone character varying(20) NOT NULL,
    recipient_email character varying(254),
    document_name character varying(255) NOT NULL,
    document_size integer NOT NULL,
    document_sha256 character varying(64) NOT NULL,
    code_failures integer NOT NULL,
    locked_at timestamp with time zone,
    deposited_at timestamp with time zone NOT NULL,
    notified_at timestamp with time zone,
    deadline_at timestamp with time zone,
    decided_at timestamp with time zone,
    version integer NOT NULL,
    reminders_sent integer NOT NULL DEFAULT 0,
    sender_reference character varying(100),
    idempotency_key character varying(255),
    idempotency_fingerprint character varying(64),
    last_resend_at timestamp with time zone,
    batch_id character varying(36),
    document_confidential boolean NOT NULL DEFAULT false,
    recipient_email_normalised character varying(254),
    document_active_content character varying(200),
    final_at timestamp with time zone,
    document_deleted_at timestamp with time zone,
    code_wait_until timestamp with time zone
);
CREATE TABLE one_time_codes (
    id character varying(36) NOT NULL,
    letter_id character varying(36) NOT NULL,
    code_hash character varying(64) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    attempts integer NOT NULL,
    used_at timestamp with time zone,
    message_id character varying(36)
);
CREATE TABLE organisation_documents (
    id character varying(36) NOT NULL,
    organisation_id character varying(36) NOT NULL,
    kind character varying(30) NOT NULL,
    filename character varying(255) NOT NULL,
    content_type character varying(100) NOT NULL,
    size integer NOT NULL,
    sha256 character varying(64) NOT NULL,
    key_id character varying(16) NOT NULL,
    wrapped_key bytea NOT NULL,
    nonce bytea NOT NULL,
    ciphertext bytea NOT NULL,
    uploaded_by_user_id character varying(36) NOT NULL,
    uploaded_at timestamp with time zone NOT NULL,
    replaced_at timestamp with time zone
);
CREATE TABLE organisation_name_words (
    organisation_id character varying(36) NOT NULL,
    word character varying(64) NOT NULL
);
CREATE TABLE organisations (
    id character varying(36) NOT NULL,
    name character varying(200) NOT NULL,
    legal_name character varying(200) NOT NULL,
    ice character varying(15),
    address character varying(400),
    verified_at timestamp with time zone,
    created_at timestamp with time zone NOT NULL,
    verified_by character varying(254),
    verification_document character varying(400),
    name_key character varying(200),
    legal_name_key character varying(200),
    allows_active_content boolean NOT NULL DEFAULT false,
    verification_submitted_at timestamp with time zone,
    refused_at timestamp with time zone,
    refused_by character varying(254),
    refusal_reason character varying(500),
    decision_email_status character varying(20),
    decision_emailed_at timestamp with time zone
);
CREATE TABLE outbound_messages (
    id character varying(36) NOT NULL,
    letter_id character varying(36) NOT NULL,
    purpose character varying(20) NOT NULL,
    channel character varying(10) NOT NULL,
    recipient character varying(254) NOT NULL,
    status character varying(20) NOT NULL,
    secret_key_id character varying(16),
    secret_wrapped_key bytea,
    secret_nonce bytea,
    secret_ciphertext bytea,
    segments integer NOT NULL,
    provider character varying(20),
    provider_message_id character varying(100),
    attempts integer NOT NULL,
    last_error text,
    created_at timestamp with time zone NOT NULL,
    submitted_at timestamp with time zone,
    sent_at timestamp with time zone,
    next_attempt_at timestamp with time zone,
    reminder_number integer,
    delivery_status character varying(20),
    delivered_at timestamp with time zone,
    requested_by_user_id character varying(36),
    requested_by_agent_id character varying(36),
    text_sha256 character varying(64)
);
CREATE TABLE proofs (
    id character varying(36) NOT NULL,
    letter_id character varying(36) NOT NULL,
    kind character varying(20) NOT NULL,
    evidence_id character varying(36) NOT NULL,
    status character varying(20) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    issued_at timestamp with time zone,
    retain_until timestamp with time zone,
    sha256 character varying(64),
    size integer,
    attempts integer NOT NULL,
    last_error text,
    key_id character varying(16),
    wrapped_key bytea,
    nonce bytea,
    ciphertext bytea,
    archive_expires_at timestamp with time zone,
    object_key character varying(200),
    object_sha256 character varying(64)
);
CREATE TABLE recovery_codes (
    id character varying(36) NOT NULL,
    user_id character varying(36) NOT NULL,
    code_hash character varying(64) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    used_at timestamp with time zone
);
CREATE TABLE users (
    id character varying(36) NOT NULL,
    organisation_id character varying(36) NOT NULL,
    email character varying(254) NOT NULL,
    password_hash character varying(255) NOT NULL,
    role character varying(20) NOT NULL,
    is_active boolean NOT NULL,
    created_at timestamp with time zone NOT NULL,
    session_epoch integer NOT NULL DEFAULT 0,
    login_failures integer NOT NULL DEFAULT 0,
    login_failures_since timestamp with time zone,
    login_locked_until timestamp with time zone,
    totp_enabled_at timestamp with time zone,
    totp_key_id character varying(16),
    totp_wrapped_key bytea,
    totp_nonce bytea,
    totp_ciphertext bytea,
    totp_last_timestep integer,
    totp_failures integer NOT NULL DEFAULT 0,
    totp_failures_since timestamp with time zone,
    totp_locked_until timestamp with time zone,
    email_confirmed_at timestamp with time zone
);
CREATE TABLE webhook_attempts (
    id character varying(36) NOT NULL,
    delivery_id character varying(36) NOT NULL,
    number integer NOT NULL,
    attempted_at timestamp with time zone NOT NULL,
    duration_ms integer NOT NULL,
    status_code integer,
    error character varying(200),
    response_excerpt character varying(500)
);
CREATE TABLE webhook_deliveries (
    id character varying(36) NOT NULL,
    endpoint_id character varying(36) NOT NULL,
    event_id character varying(36) NOT NULL,
    event_type character varying(40) NOT NULL,
    letter_id character varying(36) NOT NULL,
    payload text NOT NULL,
    status character varying(20) NOT NULL,
    attempts integer NOT NULL,
    created_at timestamp with time zone NOT NULL,
    next_attempt_at timestamp with time zone,
    last_attempt_at timestamp with time zone,
    last_status_code integer,
    last_error character varying(200),
    delivered_at timestamp with time zone
);
CREATE TABLE webhook_endpoints (
    id character varying(36) NOT NULL,
    organisation_id character varying(36) NOT NULL,
    url character varying(500) NOT NULL,
    description character varying(100) NOT NULL,
    is_active boolean NOT NULL,
    secret_hint character varying(16) NOT NULL,
    secret_key_id character varying(16) NOT NULL,
    secret_wrapped_key bytea NOT NULL,
    secret_nonce bytea NOT NULL,
    secret_ciphertext bytea NOT NULL,
    created_at timestamp with time zone NOT NULL,
    created_by_user_id character varying(36),
    secret_rotated_at timestamp with time zone,
    disabled_at timestamp with time zone
);
ALTER TABLE access_links ADD CONSTRAINT pk_access_links PRIMARY KEY (id);
ALTER TABLE access_links ADD CONSTRAINT uq_access_links_token_hash UNIQUE (token_hash);
ALTER TABLE agent_audit_log ADD CONSTRAINT pk_agent_audit_log PRIMARY KEY (id);
ALTER TABLE agents ADD CONSTRAINT pk_agents PRIMARY KEY (id);
ALTER TABLE agents ADD CONSTRAINT uq_agents_email UNIQUE (email);
ALTER TABLE alembic_version ADD CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num);
ALTER TABLE api_tokens ADD CONSTRAINT pk_api_tokens PRIMARY KEY (id);
ALTER TABLE api_tokens ADD CONSTRAINT uq_api_tokens_token_hash UNIQUE (token_hash);
ALTER TABLE batch_documents ADD CONSTRAINT pk_batch_documents PRIMARY KEY (id);
ALTER TABLE batch_documents ADD CONSTRAINT uq_batch_documents_batch_id UNIQUE (batch_id, name);
ALTER TABLE batch_documents ADD CONSTRAINT uq_batch_documents_object_key UNIQUE (object_key);
ALTER TABLE batch_rows ADD CONSTRAINT pk_batch_rows PRIMARY KEY (id);
ALTER TABLE batch_rows ADD CONSTRAINT uq_batch_rows_batch_id UNIQUE (batch_id, row_number);
ALTER TABLE batch_rows ADD CONSTRAINT uq_batch_rows_letter_id UNIQUE (letter_id);
ALTER TABLE batches ADD CONSTRAINT pk_batches PRIMARY KEY (id);
ALTER TABLE delivery_receipts ADD CONSTRAINT pk_delivery_receipts PRIMARY KEY (id);
ALTER TABLE delivery_receipts ADD CONSTRAINT uq_delivery_receipts_provider UNIQUE (provider, provider_message_id, status);
ALTER TABLE documents ADD CONSTRAINT pk_documents PRIMARY KEY (letter_id);
ALTER TABLE documents ADD CONSTRAINT uq_documents_object_key UNIQUE (object_key);
ALTER TABLE draft_documents ADD CONSTRAINT pk_draft_documents PRIMARY KEY (id);
ALTER TABLE eid_attempts ADD CONSTRAINT pk_eid_attempts PRIMARY KEY (id);
ALTER TABLE eid_attempts ADD CONSTRAINT uq_eid_attempts_state_hash UNIQUE (state_hash);
ALTER TABLE email_confirmations ADD CONSTRAINT pk_email_confirmations PRIMARY KEY (id);
ALTER TABLE email_confirmations ADD CONSTRAINT uq_email_confirmations_token_hash UNIQUE (token_hash);
ALTER TABLE evidence ADD CONSTRAINT pk_evidence PRIMARY KEY (id);
ALTER TABLE evidence ADD CONSTRAINT uq_evidence_previous_hash UNIQUE (previous_hash);
ALTER TABLE evidence ADD CONSTRAINT uq_evidence_record_hash UNIQUE (record_hash);
ALTER TABLE evidence ADD CONSTRAINT uq_evidence_seq UNIQUE (seq);
ALTER TABLE evidence_chain_head ADD CONSTRAINT pk_evidence_chain_head PRIMARY KEY (id);
ALTER TABLE evidence_checkpoints ADD CONSTRAINT pk_evidence_checkpoints PRIMARY KEY (id);
ALTER TABLE invitations ADD CONSTRAINT pk_invitations PRIMARY KEY (id);
ALTER TABLE invitations ADD CONSTRAINT uq_invitations_token_hash UNIQUE (token_hash);
ALTER TABLE journal_checkpoints ADD CONSTRAINT pk_journal_checkpoints PRIMARY KEY (tree_size);
ALTER TABLE journal_nodes ADD CONSTRAINT pk_journal_nodes PRIMARY KEY (level, "position");
ALTER TABLE journal_refusals ADD CONSTRAINT pk_journal_refusals PRIMARY KEY (id);
ALTER TABLE journal_refusals ADD CONSTRAINT uq_journal_refusals_evidence_id UNIQUE (evidence_id, problem);
ALTER TABLE key_rotations ADD CONSTRAINT pk_key_rotations PRIMARY KEY (id);
ALTER TABLE legal_holds ADD CONSTRAINT pk_legal_holds PRIMARY KEY (id);
ALTER TABLE letter_identities ADD CONSTRAINT pk_letter_identities PRIMARY KEY (letter_id);
ALTER TABLE letter_name_words ADD CONSTRAINT pk_letter_name_words PRIMARY KEY (letter_id, word);
ALTER TABLE letters ADD CONSTRAINT pk_letters PRIMARY KEY (id);
ALTER TABLE letters ADD CONSTRAINT uq_letters_organisation_id UNIQUE (organisation_id, idempotency_key);
ALTER TABLE letters ADD CONSTRAINT uq_letters_reference UNIQUE (reference);
ALTER TABLE one_time_codes ADD CONSTRAINT pk_one_time_codes PRIMARY KEY (id);
ALTER TABLE organisation_documents ADD CONSTRAINT pk_organisation_documents PRIMARY KEY (id);
ALTER TABLE organisation_name_words ADD CONSTRAINT pk_organisation_name_words PRIMARY KEY (organisation_id, word);
ALTER TABLE organisations ADD CONSTRAINT pk_organisations PRIMARY KEY (id);
ALTER TABLE organisations ADD CONSTRAINT uq_organisations_name UNIQUE (name);
ALTER TABLE outbound_messages ADD CONSTRAINT pk_outbound_messages PRIMARY KEY (id);
ALTER TABLE outbound_messages ADD CONSTRAINT uq_outbound_messages_letter_id UNIQUE (letter_id, channel, reminder_number);
ALTER TABLE proofs ADD CONSTRAINT pk_proofs PRIMARY KEY (id);
ALTER TABLE proofs ADD CONSTRAINT uq_proofs_letter_id UNIQUE (letter_id, kind);
ALTER TABLE proofs ADD CONSTRAINT uq_proofs_object_key UNIQUE (object_key);
ALTER TABLE recovery_codes ADD CONSTRAINT pk_recovery_codes PRIMARY KEY (id);
ALTER TABLE users ADD CONSTRAINT pk_users PRIMARY KEY (id);
ALTER TABLE users ADD CONSTRAINT uq_users_email UNIQUE (email);
ALTER TABLE webhook_attempts ADD CONSTRAINT pk_webhook_attempts PRIMARY KEY (id);
ALTER TABLE webhook_attempts ADD CONSTRAINT uq_webhook_attempts_delivery_id UNIQUE (delivery_id, number);
ALTER TABLE webhook_deliveries ADD CONSTRAINT pk_webhook_deliveries PRIMARY KEY (id);
ALTER TABLE webhook_deliveries ADD CONSTRAINT uq_webhook_deliveries_endpoint_id UNIQUE (endpoint_id, event_id);
ALTER TABLE webhook_endpoints ADD CONSTRAINT pk_webhook_endpoints PRIMARY KEY (id);
ALTER TABLE access_links ADD CONSTRAINT fk_access_links_letter_id_letters FOREIGN KEY (letter_id) REFERENCES letters(id);
ALTER TABLE agent_audit_log ADD CONSTRAINT fk_agent_audit_log_agent_id_agents FOREIGN KEY (agent_id) REFERENCES agents(id);
ALTER TABLE agent_audit_log ADD CONSTRAINT fk_agent_audit_log_letter_id_letters FOREIGN KEY (letter_id) REFERENCES letters(id);
ALTER TABLE api_tokens ADD CONSTRAINT fk_api_tokens_user_id_users FOREIGN KEY (user_id) REFERENCES users(id);
ALTER TABLE batch_documents ADD CONSTRAINT fk_batch_documents_batch_id_batches FOREIGN KEY (batch_id) REFERENCES batches(id);
ALTER TABLE batch_rows ADD CONSTRAINT fk_batch_rows_batch_id_batches FOREIGN KEY (batch_id) REFERENCES batches(id);
ALTER TABLE batch_rows ADD CONSTRAINT fk_batch_rows_letter_id_letters FOREIGN KEY (letter_id) REFERENCES letters(id);
ALTER TABLE batches ADD CONSTRAINT fk_batches_organisation_id_organisations FOREIGN KEY (organisation_id) REFERENCES organisations(id);
ALTER TABLE batches ADD CONSTRAINT fk_batches_user_id_users FOREIGN KEY (user_id) REFERENCES users(id);
ALTER TABLE delivery_receipts ADD CONSTRAINT fk_delivery_receipts_evidence_id_evidence FOREIGN KEY (evidence_id) REFERENCES evidence(id);
ALTER TABLE delivery_receipts ADD CONSTRAINT fk_delivery_receipts_message_id_outbound_messages FOREIGN KEY (message_id) REFERENCES outbound_messages(id);
ALTER TABLE documents ADD CONSTRAINT fk_documents_letter_id_letters FOREIGN KEY (letter_id) REFERENCES letters(id);
ALTER TABLE draft_documents ADD CONSTRAINT fk_draft_documents_user_id_users FOREIGN KEY (user_id) REFERENCES users(id);
ALTER TABLE eid_attempts ADD CONSTRAINT fk_eid_attempts_letter_id_letters FOREIGN KEY (letter_id) REFERENCES letters(id);
ALTER TABLE email_confirmations ADD CONSTRAINT fk_email_confirmations_user_id_users FOREIGN KEY (user_id) REFERENCES users(id);
ALTER TABLE evidence ADD CONSTRAINT fk_evidence_letter_id_letters FOREIGN KEY (letter_id) REFERENCES letters(id);
ALTER TABLE invitations ADD CONSTRAINT fk_invitations_invited_by_user_id_users FOREIGN KEY (invited_by_user_id) REFERENCES users(id);
ALTER TABLE invitations ADD CONSTRAINT fk_invitations_organisation_id_organisations FOREIGN KEY (organisation_id) REFERENCES organisations(id);
ALTER TABLE legal_holds ADD CONSTRAINT fk_legal_holds_letter_id_letters FOREIGN KEY (letter_id) REFERENCES letters(id);
ALTER TABLE letter_identities ADD CONSTRAINT fk_letter_identities_letter_id_letters FOREIGN KEY (letter_id) REFERENCES letters(id);
ALTER TABLE letter_name_words ADD CONSTRAINT fk_letter_name_words_letter_id_letters FOREIGN KEY (letter_id) REFERENCES letters(id);
ALTER TABLE letters ADD CONSTRAINT fk_letters_batch_id_batches FOREIGN KEY (batch_id) REFERENCES batches(id);
ALTER TABLE letters ADD CONSTRAINT fk_letters_organisation_id_organisations FOREIGN KEY (organisation_id) REFERENCES organisations(id);
ALTER TABLE letters ADD CONSTRAINT fk_letters_sender_user_id_users FOREIGN KEY (sender_user_id) REFERENCES users(id);
ALTER TABLE one_time_codes ADD CONSTRAINT fk_one_time_codes_letter_id_letters FOREIGN KEY (letter_id) REFERENCES letters(id);
ALTER TABLE one_time_codes ADD CONSTRAINT fk_one_time_codes_message_id_outbound_messages FOREIGN KEY (message_id) REFERENCES outbound_messages(id);
ALTER TABLE organisation_documents ADD CONSTRAINT fk_organisation_documents_organisation_id_organisations FOREIGN KEY (organisation_id) REFERENCES organisations(id);
ALTER TABLE organisation_documents ADD CONSTRAINT fk_organisation_documents_uploaded_by_user_id_users FOREIGN KEY (uploaded_by_user_id) REFERENCES users(id);
ALTER TABLE organisation_name_words ADD CONSTRAINT fk_organisation_name_words_organisation_id_organisations FOREIGN KEY (organisation_id) REFERENCES organisations(id);
ALTER TABLE outbound_messages ADD CONSTRAINT fk_outbound_messages_letter_id_letters FOREIGN KEY (letter_id) REFERENCES letters(id);
ALTER TABLE outbound_messages ADD CONSTRAINT fk_outbound_messages_requested_by_agent_id_agents FOREIGN KEY (requested_by_agent_id) REFERENCES agents(id);
ALTER TABLE outbound_messages ADD CONSTRAINT fk_outbound_messages_requested_by_user_id_users FOREIGN KEY (requested_by_user_id) REFERENCES users(id);
ALTER TABLE proofs ADD CONSTRAINT fk_proofs_evidence_id_evidence FOREIGN KEY (evidence_id) REFERENCES evidence(id);
ALTER TABLE proofs ADD CONSTRAINT fk_proofs_letter_id_letters FOREIGN KEY (letter_id) REFERENCES letters(id);
ALTER TABLE recovery_codes ADD CONSTRAINT fk_recovery_codes_user_id_users FOREIGN KEY (user_id) REFERENCES users(id);
ALTER TABLE users ADD CONSTRAINT fk_users_organisation_id_organisations FOREIGN KEY (organisation_id) REFERENCES organisations(id);
ALTER TABLE webhook_attempts ADD CONSTRAINT fk_webhook_attempts_delivery_id_webhook_deliveries FOREIGN KEY (delivery_id) REFERENCES webhook_deliveries(id);
ALTER TABLE webhook_deliveries ADD CONSTRAINT fk_webhook_deliveries_endpoint_id_webhook_endpoints FOREIGN KEY (endpoint_id) REFERENCES webhook_endpoints(id);
ALTER TABLE webhook_deliveries ADD CONSTRAINT fk_webhook_deliveries_letter_id_letters FOREIGN KEY (letter_id) REFERENCES letters(id);
ALTER TABLE webhook_endpoints ADD CONSTRAINT fk_webhook_endpoints_created_by_user_id_users FOREIGN KEY (created_by_user_id) REFERENCES users(id);
ALTER TABLE webhook_endpoints ADD CONSTRAINT fk_webhook_endpoints_organisation_id_organisations FOREIGN KEY (organisation_id) REFERENCES organisations(id);
CREATE INDEX ix_access_links_letter_id ON public.access_links USING btree (letter_id);
CREATE INDEX ix_agent_audit_log_agent_id_at ON public.agent_audit_log USING btree (agent_id, at);
CREATE INDEX ix_agent_audit_log_at ON public.agent_audit_log USING btree (at);
CREATE INDEX ix_agent_audit_log_letter_id_at ON public.agent_audit_log USING btree (letter_id, at);
CREATE INDEX ix_api_tokens_user_id ON public.api_tokens USING btree (user_id);
CREATE INDEX ix_batch_documents_batch_id ON public.batch_documents USING btree (batch_id);
CREATE INDEX ix_batch_rows_batch_id ON public.batch_rows USING btree (batch_id);
CREATE INDEX ix_batches_created_at ON public.batches USING btree (created_at);
CREATE INDEX ix_batches_organisation_id ON public.batches USING btree (organisation_id);
CREATE INDEX ix_delivery_receipts_message_id ON public.delivery_receipts USING btree (message_id);
CREATE INDEX ix_draft_documents_created_at ON public.draft_documents USING btree (created_at);
CREATE INDEX ix_draft_documents_user_id ON public.draft_documents USING btree (user_id);
CREATE INDEX ix_eid_attempts_letter_id ON public.eid_attempts USING btree (letter_id);
CREATE INDEX ix_email_confirmations_user_id ON public.email_confirmations USING btree (user_id);
CREATE INDEX ix_evidence_checkpoints_seq ON public.evidence_checkpoints USING btree (seq);
CREATE INDEX ix_evidence_letter_id ON public.evidence USING btree (letter_id);
CREATE INDEX ix_evidence_sealed_at ON public.evidence USING btree (sealed_at);
CREATE INDEX ix_invitations_organisation_id ON public.invitations USING btree (organisation_id);
CREATE INDEX ix_journal_checkpoints_created_at ON public.journal_checkpoints USING btree (created_at);
CREATE INDEX ix_key_rotations_kind ON public.key_rotations USING btree (kind);
CREATE INDEX ix_legal_holds_letter_id_lifted_at ON public.legal_holds USING btree (letter_id, lifted_at);
CREATE INDEX ix_letter_name_words_word_deposited_at ON public.letter_name_words USING btree (word, deposited_at, letter_id);
CREATE INDEX ix_letters_batch_id ON public.letters USING btree (batch_id);
CREATE INDEX ix_letters_code_failures ON public.letters USING btree (code_failures);
CREATE INDEX ix_letters_deadline_at ON public.letters USING btree (deadline_at);
CREATE INDEX ix_letters_final_at ON public.letters USING btree (final_at);
CREATE INDEX ix_letters_locked_at ON public.letters USING btree (locked_at);
CREATE INDEX ix_letters_organisation_id ON public.letters USING btree (organisation_id);
CREATE INDEX ix_letters_organisation_id_deposited_at ON public.letters USING btree (organisation_id, deposited_at);
CREATE INDEX ix_letters_recipient_email_normalised ON public.letters USING btree (recipient_email_normalised);
CREATE INDEX ix_letters_recipient_phone ON public.letters USING btree (recipient_phone);
CREATE INDEX ix_letters_sender_reference ON public.letters USING btree (sender_reference);
CREATE INDEX ix_letters_status ON public.letters USING btree (status);
CREATE INDEX ix_letters_status_deposited_at ON public.letters USING btree (status, deposited_at);
CREATE INDEX ix_one_time_codes_created_at ON public.one_time_codes USING btree (created_at);
CREATE INDEX ix_one_time_codes_letter_id ON public.one_time_codes USING btree (letter_id);
CREATE INDEX ix_organisation_documents_organisation_id ON public.organisation_documents USING btree (organisation_id);
CREATE INDEX ix_organisation_name_words_word ON public.organisation_name_words USING btree (word);
CREATE INDEX ix_organisations_ice ON public.organisations USING btree (ice);
CREATE INDEX ix_organisations_legal_name_key ON public.organisations USING btree (legal_name_key);
CREATE INDEX ix_organisations_name_key ON public.organisations USING btree (name_key);
CREATE INDEX ix_organisations_verification_submitted_at ON public.organisations USING btree (verification_submitted_at);
CREATE INDEX ix_outbound_messages_created_at ON public.outbound_messages USING btree (created_at);
CREATE INDEX ix_outbound_messages_letter_id ON public.outbound_messages USING btree (letter_id);
CREATE INDEX ix_outbound_messages_next_attempt_at ON public.outbound_messages USING btree (next_attempt_at);
CREATE INDEX ix_outbound_messages_status ON public.outbound_messages USING btree (status);
CREATE INDEX ix_outbound_messages_status_created_at ON public.outbound_messages USING btree (status, created_at);
CREATE INDEX ix_proofs_archive_expires_at ON public.proofs USING btree (archive_expires_at);
CREATE INDEX ix_proofs_letter_id ON public.proofs USING btree (letter_id);
CREATE INDEX ix_proofs_status ON public.proofs USING btree (status);
CREATE INDEX ix_recovery_codes_user_id ON public.recovery_codes USING btree (user_id);
CREATE INDEX ix_users_organisation_id ON public.users USING btree (organisation_id);
CREATE INDEX ix_webhook_attempts_delivery_id ON public.webhook_attempts USING btree (delivery_id);
CREATE INDEX ix_webhook_deliveries_created_at ON public.webhook_deliveries USING btree (created_at);
CREATE INDEX ix_webhook_deliveries_endpoint_id ON public.webhook_deliveries USING btree (endpoint_id);
CREATE INDEX ix_webhook_deliveries_event_id ON public.webhook_deliveries USING btree (event_id);
CREATE INDEX ix_webhook_deliveries_letter_id ON public.webhook_deliveries USING btree (letter_id);
CREATE INDEX ix_webhook_deliveries_next_attempt_at ON public.webhook_deliveries USING btree (next_attempt_at);
CREATE INDEX ix_webhook_deliveries_status ON public.webhook_deliveries USING btree (status);
CREATE INDEX ix_webhook_endpoints_organisation_id ON public.webhook_endpoints USING btree (organisation_id);
CREATE OR REPLACE FUNCTION public.agent_audit_log_append_only()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    RAISE EXCEPTION 'agent_audit_log is append-only';
END;
$function$;
CREATE TRIGGER agent_audit_log_append_only BEFORE DELETE OR UPDATE ON public.agent_audit_log FOR EACH ROW EXECUTE FUNCTION agent_audit_log_append_only();
ALTER SEQUENCE evidence_chain_head_id_seq OWNED BY evidence_chain_head.id;
ALTER SEQUENCE evidence_checkpoints_id_seq OWNED BY evidence_checkpoints.id;
ALTER SEQUENCE journal_refusals_id_seq OWNED BY journal_refusals.id;
INSERT INTO alembic_version (version_num) VALUES ('5a0eb0c0ffee');
INSERT INTO evidence_chain_head (id, seq, record_hash, version) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000', 1);
