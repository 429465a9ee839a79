-- Single-use tokens sent by e-mail (storage/account_tokens.hpp): a password
-- reset, the confirmation of a new e-mail address, an invitation to a
-- household. A request inserts a row with no token; the e-mail's delivery
-- issues the token and stores only its SHA-256 in token_hash (a retried
-- delivery replaces it), so no usable token is ever in the database.
-- Redeeming deletes the row: a token works once, before `expires`. Expired
-- rows are purged by engine.expire-sessions.
CREATE TABLE auth_token (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  purpose           text NOT NULL
                    CHECK (purpose IN ('password_reset', 'email_change', 'invitation')),
  -- password_reset, email_change: the account; invitation: the inviting owner
  auth_account_id   uuid NOT NULL REFERENCES auth_account (id) ON DELETE CASCADE,
  -- email_change: the address to confirm; invitation: the invitee's
  email_address     text,
  auth_household_id uuid REFERENCES auth_household (id) ON DELETE CASCADE,
  permissions       text CHECK (permissions IN ('owner', 'edit', 'view')),
  token_hash        bytea UNIQUE,
  created           timestamptz NOT NULL DEFAULT now(),
  expires           timestamptz NOT NULL,
  CHECK ((purpose = 'password_reset') = (email_address IS NULL)),
  CHECK ((purpose = 'invitation') = (auth_household_id IS NOT NULL AND permissions IS NOT NULL))
);
CREATE INDEX auth_token_expires ON auth_token (expires);
CREATE INDEX auth_token_account ON auth_token (auth_account_id);
CREATE INDEX auth_token_household ON auth_token (auth_household_id)
  WHERE auth_household_id IS NOT NULL;
