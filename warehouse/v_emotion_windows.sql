-- The fused time series with who, when and where: every row of emotion_windows with the
-- patient, session, recording date, site and trial arm of its session (no join needed).
with src_windows as (
    select * from emotion_windows
),

src_sessions as (
    select recording_sha256, patient_id, session_id, recorded_at, site, trial_arm from sessions
),

src_patients as (
    select patient_id, site, trial_arm from patients
),

final as (
    select
        s.patient_id,
        s.session_id,
        s.recorded_at,
        coalesce(s.site, p.site) as site,
        coalesce(s.trial_arm, p.trial_arm) as trial_arm,
        w.*
    from src_windows as w
    left join src_sessions as s on s.recording_sha256 = w.recording_sha256
    left join src_patients as p on p.patient_id = s.patient_id
)

select * from final
