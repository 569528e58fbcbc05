-- The face stream with who, when and where: every row of frames (one per sampled video frame) with the
-- patient, session, recording date, site and trial arm of its session (no join needed).
with src_frames as (
    select * from frames
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
        f.*
    from src_frames as f
    left join src_sessions as s on s.recording_sha256 = f.recording_sha256
    left join src_patients as p on p.patient_id = s.patient_id
)

select * from final
