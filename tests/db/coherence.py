"""The seed's coherence rules as SQL: each query counts the rows that break one rule.

Shared by the seed's tests and the scenarios' (a scenario must keep every rule holding).
"""

from __future__ import annotations

COHERENCE = {
    "birth before registration, registration in the past": (
        "SELECT count(*) FROM pacientes WHERE nascimento >= data_cadastro::date"
        " OR data_cadastro > localtimestamp"
    ),
    "consulta before the patient's registration": (
        "SELECT count(*) FROM consultas c JOIN pacientes p ON p.id = c.paciente_id"
        " WHERE c.data <= p.data_cadastro"
    ),
    "closed consulta in the future": (
        "SELECT count(*) FROM consultas WHERE status <> 'agendada' AND data > localtimestamp"
    ),
    "agendada consulta not in the next months": (
        "SELECT count(*) FROM consultas WHERE status = 'agendada'"
        " AND (data <= localtimestamp OR data > localtimestamp + interval '6 months')"
    ),
    "exame before registration or in the future": (
        "SELECT count(*) FROM exames e JOIN pacientes p ON p.id = e.paciente_id"
        " WHERE e.data <= p.data_cadastro OR e.data > localtimestamp"
    ),
    "internacao before registration or in the future": (
        "SELECT count(*) FROM internacoes i JOIN pacientes p ON p.id = i.paciente_id"
        " WHERE i.data_entrada <= p.data_cadastro OR i.data_entrada > localtimestamp"
        " OR i.data_saida > localtimestamp"
    ),
    "discharge before admission": (
        "SELECT count(*) FROM internacoes WHERE data_saida < data_entrada"
    ),
    "more than one current stay per patient": (
        "SELECT count(*) FROM (SELECT paciente_id FROM internacoes WHERE data_saida IS NULL"
        " GROUP BY paciente_id HAVING count(*) > 1) t"
    ),
    "overlapping stays of one patient": (
        "SELECT count(*) FROM internacoes a JOIN internacoes b"
        " ON a.paciente_id = b.paciente_id AND a.id < b.id"
        " AND tsrange(a.data_entrada, coalesce(a.data_saida, 'infinity'))"
        " && tsrange(b.data_entrada, coalesce(b.data_saida, 'infinity'))"
    ),
    "duplicate patient-plan pair": (
        "SELECT count(*) - count(DISTINCT (paciente_id, convenio_id)) FROM pacientes_convenios"
    ),
}
