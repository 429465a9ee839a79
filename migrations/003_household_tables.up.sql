-- More household tables, all declared in storage/tables.cpp (table_spec):
-- shopping lists and categories, plan projects, calendar events and notes
-- pages. Same shape as shop_item: owned by one household, created/updated
-- timestamps, an index for listing a household's rows in order.

CREATE TABLE shop_list (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  auth_household_id uuid NOT NULL REFERENCES auth_household (id) ON DELETE CASCADE,
  name              text NOT NULL,
  created           timestamptz NOT NULL DEFAULT now(),
  updated           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX shop_list_household ON shop_list (auth_household_id, created);

CREATE TABLE shop_category (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  auth_household_id uuid NOT NULL REFERENCES auth_household (id) ON DELETE CASCADE,
  name              text NOT NULL,
  created           timestamptz NOT NULL DEFAULT now(),
  updated           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX shop_category_household ON shop_category (auth_household_id, created);

CREATE TABLE plan_project (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  auth_household_id uuid NOT NULL REFERENCES auth_household (id) ON DELETE CASCADE,
  name              text NOT NULL,
  done              boolean NOT NULL DEFAULT false,
  created           timestamptz NOT NULL DEFAULT now(),
  updated           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX plan_project_household ON plan_project (auth_household_id, created);

CREATE TABLE calendar_event (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  auth_household_id uuid NOT NULL REFERENCES auth_household (id) ON DELETE CASCADE,
  name              text NOT NULL,
  starts_at         timestamptz NOT NULL,
  ends_at           timestamptz NOT NULL,
  all_day           boolean NOT NULL DEFAULT false,
  details           text NOT NULL DEFAULT '',
  created           timestamptz NOT NULL DEFAULT now(),
  updated           timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT calendar_event_ends_after_start CHECK (ends_at >= starts_at)
);
CREATE INDEX calendar_event_household ON calendar_event (auth_household_id, created);

CREATE TABLE notes_page (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  auth_household_id uuid NOT NULL REFERENCES auth_household (id) ON DELETE CASCADE,
  name              text NOT NULL,
  body              text NOT NULL DEFAULT '',
  created           timestamptz NOT NULL DEFAULT now(),
  updated           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notes_page_household ON notes_page (auth_household_id, created);
