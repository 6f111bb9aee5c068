-- The two plans every hospital database starts with: the public system and one private
-- plan. Their CNPJs are cnpj_for_id(1) and cnpj_for_id(2), so generated plans (ids >= 3)
-- never collide with them. ON CONFLICT keeps a second init from touching them.
INSERT INTO convenios (id, nome, cnpj, tipo, cobertura) VALUES
    (1, 'SUS - Sistema Único de Saúde', '04.592.563/0001-77', 'publico', 'Integral - Nacional'),
    (2, 'Vida Plena Saúde', '77.769.200/0001-38', 'privado',
     'Ambulatorial + Hospitalar com obstetrícia - Nacional')
ON CONFLICT (id) DO NOTHING;

-- Keep BIGSERIAL past the explicit ids, without moving it back on a populated table.
SELECT setval('convenios_id_seq', GREATEST((SELECT max(id) FROM convenios), 1))
WHERE (SELECT last_value FROM convenios_id_seq) < (SELECT max(id) FROM convenios);
