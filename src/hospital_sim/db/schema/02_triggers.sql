-- updated_at follows every UPDATE. Created only when missing, so init can run again
-- without touching the catalog (CREATE OR REPLACE TRIGGER needs PostgreSQL 14).
CREATE OR REPLACE FUNCTION hospital_sim_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['pacientes', 'medicos', 'convenios', 'pacientes_convenios',
                             'consultas', 'exames', 'internacoes']
    LOOP
        IF NOT EXISTS (
            SELECT 1 FROM pg_trigger
            WHERE tgname = 'trg_' || t || '_updated_at'
              AND tgrelid = format('public.%I', t)::regclass
        ) THEN
            EXECUTE format(
                'CREATE TRIGGER %I BEFORE UPDATE ON public.%I '
                'FOR EACH ROW EXECUTE FUNCTION hospital_sim_touch_updated_at()',
                'trg_' || t || '_updated_at', t);
        END IF;
    END LOOP;
END;
$$;
