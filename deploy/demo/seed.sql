-- Demo data of the ShiftWise database, loaded once by shiftwise-data on the
-- first start of the postgres role, as the role shiftwise.
-- The tables are the ones the runbook's Performance Optimization section
-- names. The indexes it creates there (idx_assignments_employee_date,
-- idx_shift_demands_date_station) are left out on purpose: creating them is
-- the runbook's procedure. Rows are deterministic (no random()).

BEGIN;

CREATE TABLE stations (
    id          integer PRIMARY KEY,
    name        text    NOT NULL UNIQUE,
    location    text    NOT NULL
);

CREATE TABLE employees (
    id          serial  PRIMARY KEY,
    first_name  text    NOT NULL,
    last_name   text    NOT NULL,
    email       text    NOT NULL UNIQUE,
    role        text    NOT NULL,
    station_id  integer NOT NULL REFERENCES stations(id),
    hired_on    date    NOT NULL,
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE shift_demands (
    id              serial  PRIMARY KEY,
    date            date    NOT NULL,
    station_id      integer NOT NULL REFERENCES stations(id),
    shift           text    NOT NULL CHECK (shift IN ('early', 'late', 'night')),
    required_staff  integer NOT NULL CHECK (required_staff > 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (date, station_id, shift)
);

CREATE TABLE assignments (
    id               serial  PRIMARY KEY,
    employee_id      integer NOT NULL REFERENCES employees(id),
    shift_demand_id  integer NOT NULL REFERENCES shift_demands(id),
    status           text    NOT NULL DEFAULT 'planned' CHECK (status IN ('planned', 'confirmed', 'swapped', 'cancelled')),
    created_at       timestamptz NOT NULL DEFAULT now()
);

INSERT INTO stations (id, name, location) VALUES
    (1, 'Front Desk',   'Building A'),
    (2, 'Kitchen',      'Building A'),
    (3, 'Warehouse',    'Building B'),
    (4, 'Loading Dock', 'Building B'),
    (5, 'Pharmacy',     'Building C'),
    (6, 'Emergency',    'Building C'),
    (7, 'Call Center',  'Building D'),
    (8, 'Security',     'Gatehouse');

-- 240 employees: every pairing of 20 first and 12 last names.
INSERT INTO employees (first_name, last_name, email, role, station_id, hired_on, active, created_at)
SELECT f.name, l.name,
       lower(f.name || '.' || l.name) || '@shiftwise.example',
       (ARRAY['associate', 'associate', 'associate', 'senior', 'lead', 'supervisor'])[1 + (f.i * 7 + l.i) % 6],
       1 + (f.i * 12 + l.i) % 8,
       date '2019-01-07' + (((f.i * 12 + l.i) * 11) % 2400)::int,
       (f.i * 12 + l.i) % 17 <> 0,
       timestamptz '2026-01-05 09:00:00+00' + ((f.i * 12 + l.i) * interval '37 minutes')
FROM unnest(ARRAY['Ada', 'Ben', 'Chloe', 'Dev', 'Elif', 'Farid', 'Greta', 'Hugo', 'Ines', 'Jonas',
                  'Kemal', 'Lena', 'Mateo', 'Nora', 'Oskar', 'Priya', 'Quinn', 'Rosa', 'Sami', 'Tara'])
         WITH ORDINALITY AS f(name, i),
     unnest(ARRAY['Adler', 'Berg', 'Costa', 'Dubois', 'Eriksen', 'Fischer',
                  'Garcia', 'Hansen', 'Ivanova', 'Jensen', 'Kowalski', 'Laurent'])
         WITH ORDINALITY AS l(name, i)
ORDER BY f.i, l.i;

-- 28 days x 8 stations x 3 shifts = 672 demands.
INSERT INTO shift_demands (date, station_id, shift, required_staff, created_at)
SELECT d::date, s.id, sh.shift,
       1 + (s.id * 3 + sh.i + extract(isodow FROM d)::int) % 4,
       d - interval '14 days'
FROM generate_series(date '2026-11-16', date '2026-12-13', interval '1 day') AS d,
     stations AS s,
     unnest(ARRAY['early', 'late', 'night']) WITH ORDINALITY AS sh(shift, i)
ORDER BY d, s.id, sh.i;

-- One assignment per required person, drawn round-robin from the active
-- employees of the same station.
INSERT INTO assignments (employee_id, shift_demand_id, status, created_at)
SELECT e.id, sd.id,
       (ARRAY['planned', 'confirmed', 'confirmed', 'confirmed', 'swapped', 'cancelled'])[1 + (sd.id + n) % 6],
       sd.created_at + (n * interval '5 minutes')
FROM shift_demands AS sd
CROSS JOIN LATERAL generate_series(1, sd.required_staff) AS n
CROSS JOIN LATERAL (
    SELECT id FROM employees
    WHERE station_id = sd.station_id AND active
    ORDER BY id
    OFFSET (sd.id * 2 + n) % 25 LIMIT 1
) AS e
ORDER BY sd.id, n;

COMMIT;

ANALYZE;
